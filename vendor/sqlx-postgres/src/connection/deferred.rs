//! Sending a transaction's last write with its `COMMIT` (a change of this vendored copy,
//! `PATCHED.md`).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Deferral {
    /// No statement may be deferred.
    Off,
    /// The next statement to start may be.
    Offered,
    /// A statement was deferred.
    Taken,
}

thread_local! {
    /// What the [`SentWithNext`] being polled allows.
    static DEFERRAL: Cell<Deferral> = const { Cell::new(Deferral::Off) };
}

/// Runs `statement`, a future that executes one statement, so that the statement is sent
/// with the connection's next one, in one write, instead of on its own.
///
/// It applies when the statement runs in a transaction (not in a savepoint), to the first
/// statement `statement` executes: its messages are written to the connection's buffer and
/// go with the connection's next statement, normally the transaction's `COMMIT`, which reads
/// their answer before its own. The statement's own result is then empty (no rows, no rows
/// affected); its failure is the next statement's error, and a `COMMIT` after a failed
/// statement rolls the transaction back. Outside a transaction, or in a savepoint, the
/// statement runs as usual. The output says which: `true` when it was deferred.
pub fn sent_with_next<F: Future>(statement: F) -> SentWithNext<F> {
    SentWithNext {
        statement: Box::pin(statement),
        deferral: Deferral::Offered,
    }
}

/// The future of [`sent_with_next`].
pub struct SentWithNext<F> {
    statement: Pin<Box<F>>,
    deferral: Deferral,
}

impl<F: Future> Future for SentWithNext<F> {
    type Output = (F::Output, bool);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let previous = DEFERRAL.with(|d| d.replace(self.deferral));
        let polled = self.statement.as_mut().poll(cx);
        self.deferral = DEFERRAL.with(|d| d.replace(previous));
        polled.map(|output| (output, self.deferral == Deferral::Taken))
    }
}

/// Whether the statement starting now, in a transaction at `depth`, is deferred. Takes the
/// offer either way, so no statement run on its behalf (a type lookup) is.
pub(crate) fn take_deferral(depth: usize) -> bool {
    DEFERRAL.with(|d| {
        if d.get() != Deferral::Offered {
            return false;
        }
        let deferred = depth == 1;
        d.set(if deferred {
            Deferral::Taken
        } else {
            Deferral::Off
        });
        deferred
    })
}
