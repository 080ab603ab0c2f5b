//! Use-cases. Each takes a connection (or opens one transaction) and calls the rules.

pub mod accounts;
pub mod batch_settle;
pub mod completion;
pub mod dashboard;
pub mod group_commit;
pub mod members;
pub mod merchants;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod platform;
pub mod points;
pub mod programs;
pub mod queue;
pub mod sweeps;
pub mod transfers;
pub mod value_added;
pub mod wallet;
pub mod withdrawals;

use crate::error::{AppError, AppResult};

/// Parses an opaque GraphQL id into the row id it stands for.
pub fn parse_id(id: &str, what: &'static str) -> AppResult<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| AppError::invalid(format!("{id:?} is not a valid {what} id")))
}

/// Trims a display name and checks its length.
/// The longest reason or note a person may write (a refund's reason, a review's note).
pub const MAX_NOTE_CHARS: usize = 200;

/// An optional reason or note: trimmed, `None` when blank, refused when longer than
/// [`MAX_NOTE_CHARS`] (control characters never reach here: the request is refused first).
pub fn clean_note(note: Option<String>, what: &str) -> AppResult<Option<String>> {
    let Some(note) = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::invalid(format!(
            "the {what} is longer than {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(Some(note))
}

pub fn clean_name(name: &str, what: &str, max: usize) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid(format!("the {what} must not be empty")));
    }
    if name.chars().count() > max {
        return Err(AppError::invalid(format!(
            "the {what} is longer than {max} characters"
        )));
    }
    Ok(name.to_owned())
}
