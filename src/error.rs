//! The one error type of the gateway, and the one place it becomes a GraphQL error.

use async_graphql::{ErrorExtensionValues, ServerError, Value};

/// Every failure a use-case can report. Client errors carry a message meant for the user;
/// `Internal` carries the cause for the log and shows the client nothing of it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InsufficientFunds(String),
    #[error("{0}")]
    RateLimited(String),
    /// Too many attempts: the same request may succeed after `retry_after_seconds`
    /// (`extensions.retryAfterSeconds`).
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after_seconds: u64,
    },
    /// The database or another dependency could not be reached for a moment; nothing was
    /// written, and the same request (with the same idempotency key) may be sent again.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidInput(msg.into())
    }

    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }

    pub fn unauthenticated(msg: impl Into<String>) -> Self {
        Self::Unauthenticated(msg.into())
    }

    /// The `extensions.code` clients switch on (API.md "Transport").
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::InvalidInput(_) => "INVALID_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::InsufficientFunds(_) => "INSUFFICIENT_FUNDS",
            Self::RateLimited(_) | Self::TooManyAttempts { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The error for the log, on one line: an internal error's chain of causes, never a
    /// backtrace.
    pub fn detail(&self) -> String {
        match self {
            Self::Internal(cause) => format!("{cause:#}"),
            other => other.to_string(),
        }
    }

    /// The same error again, for each caller of a batch that failed once (an internal
    /// error keeps its causes as text).
    pub fn duplicate(&self) -> AppError {
        match self {
            Self::Unauthenticated(m) => Self::Unauthenticated(m.clone()),
            Self::Forbidden(m) => Self::Forbidden(m.clone()),
            Self::NotFound(what) => Self::NotFound(what),
            Self::InvalidInput(m) => Self::InvalidInput(m.clone()),
            Self::Conflict(m) => Self::Conflict(m.clone()),
            Self::InsufficientFunds(m) => Self::InsufficientFunds(m.clone()),
            Self::RateLimited(m) => Self::RateLimited(m.clone()),
            Self::TooManyAttempts {
                message,
                retry_after_seconds,
            } => Self::TooManyAttempts {
                message: message.clone(),
                retry_after_seconds: *retry_after_seconds,
            },
            Self::Unavailable(m) => Self::Unavailable(m.clone()),
            Self::Internal(cause) => Self::Internal(anyhow::anyhow!("{cause:#}")),
        }
    }

    /// Whether the same request may simply be sent again (`extensions.retryable`).
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The message of every `UNAVAILABLE` answer caused by the database.
const DATABASE_UNAVAILABLE: &str = "the service is briefly unavailable; try again in a moment";

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unreachable(&err) {
            tracing::warn!(error = %err, "database unreachable");
            Self::Unavailable(DATABASE_UNAVAILABLE.into())
        } else {
            Self::Internal(err.into())
        }
    }
}

/// Whether a database error means the database could not be reached or could not take the
/// work just now (so retrying later can succeed), rather than that the statement was wrong.
pub fn is_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{sqlx, DbErr, RuntimeErr};
    let sqlx_error = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx_error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // PostgreSQL: class 08 (connection exception), 57P01-57P03 (the server is
            // shutting down or starting), 53300 (too many connections). SQLite: 5 and 6
            // (the file is busy or locked past the busy timeout).
            code.starts_with("08")
                || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "5" | "6")
        }
        _ => false,
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(err: sea_orm::TransactionError<AppError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

/// Gives every error of a GraphQL response its `extensions.code`.
///
/// Resolvers return `AppError` through `?`, which async-graphql keeps as the error's source.
/// An error with no source was raised by async-graphql itself while parsing, validating or
/// coercing the request (bad syntax, a wrong argument type, a query over the depth limit):
/// that is the client's input. Any other source is a server failure: the client sees only
/// `INTERNAL`, and its cause, on one line, is returned for the log.
pub fn classify(err: &mut ServerError) -> Option<String> {
    let mut retryable = false;
    let mut retry_after = None;
    let mut internal = None;
    let code = match err.source::<AppError>() {
        Some(AppError::Internal(cause)) => {
            // `{:#}`: the chain of causes on one line, never a backtrace.
            internal = Some(format!("{cause:#}"));
            err.message = "internal error".into();
            "INTERNAL"
        }
        Some(app) => {
            retryable = app.retryable();
            if let AppError::TooManyAttempts {
                retry_after_seconds,
                ..
            } = app
            {
                retry_after = Some(*retry_after_seconds);
            }
            app.code()
        }
        None if err.source.is_some() => {
            internal = Some(err.message.clone());
            err.message = "internal error".into();
            "INTERNAL"
        }
        None => "INVALID_INPUT",
    };
    let extensions = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("code", Value::from(code));
    if retryable {
        extensions.set("retryable", true);
    }
    if let Some(seconds) = retry_after {
        extensions.set("retryAfterSeconds", seconds);
    }
    internal
}

/// Removes the "Did you mean …?" of a validation message, which would show a stranger the
/// schema's field and type names.
pub fn without_suggestions(message: &str) -> &str {
    match message.find(" Did you mean") {
        Some(at) => &message[..at],
        None => message,
    }
}

/// A response as the client receives it: serialised straight from the executor's values, so
/// fields keep the order the query selected them in (GraphQL spec, "Serialized Map Ordering").
///
/// Every error gets its `extensions.code` ([`classify`]); in production no message suggests
/// names. A request error (the document did not parse or validate, so nothing ran) is told
/// apart by its errors: execution errors always carry the path of their field, while parsing
/// and validation errors carry none and leave no data; its body has no `data`.
pub struct ResponseBody {
    response: async_graphql::Response,
    request_error: bool,
}

impl ResponseBody {
    pub fn new(mut response: async_graphql::Response, production: bool) -> Self {
        let mut failures = 0usize;
        let mut first_failure = None;
        for error in &mut response.errors {
            if let Some(cause) = classify(error) {
                failures += 1;
                first_failure.get_or_insert((cause, error.path.clone()));
            }
            if production {
                error.message = without_suggestions(&error.message).to_owned();
            }
        }
        // One line per failed request, however many fields failed (the request's span
        // carries its id): a query fanning out over a broken dependency must not flood the log.
        if let Some((cause, path)) = first_failure {
            let path = path
                .iter()
                .map(|segment| match segment {
                    async_graphql::PathSegment::Field(name) => name.clone(),
                    async_graphql::PathSegment::Index(i) => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(".");
            tracing::error!(failures, %path, error = %cause, "request failed");
        }
        let request_error = response.data == Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        Self {
            response,
            request_error,
        }
    }

    pub fn is_request_error(&self) -> bool {
        self.request_error
    }

    /// `{"data": …, "errors": […], "extensions": {…}}`, each part only where it belongs.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"data":null}"#.into())
    }

    /// The errors alone, as a JSON array (a subscription's `error` message).
    pub fn errors_json(&self) -> String {
        serde_json::to_string(&self.response.errors).unwrap_or_else(|_| "[]".into())
    }
}

impl serde::Serialize for ResponseBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let response = &self.response;
        let mut map = serializer.serialize_map(None)?;
        if !self.request_error {
            map.serialize_entry("data", &response.data)?;
        }
        if !response.errors.is_empty() {
            map.serialize_entry("errors", &response.errors)?;
        }
        if !response.extensions.is_empty() {
            map.serialize_entry("extensions", &response.extensions)?;
        }
        map.end()
    }
}

/// Turns an `AppError` into a GraphQL error raised outside a resolver (an extension's check),
/// keeping it as the source so [`classify`] gives it its code.
pub fn server_error(err: AppError) -> ServerError {
    let mut error = ServerError::new(err.to_string(), None);
    error.source = Some(std::sync::Arc::new(err));
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_reaches_the_log_as_one_line_of_causes_and_the_client_sees_nothing() {
        let cause = anyhow::anyhow!("disk I/O error").context("reading the orders page");
        let mut error = server_error(AppError::Internal(cause));
        let logged = classify(&mut error).expect("an internal error is logged");
        assert_eq!(logged, "reading the orders page: disk I/O error");
        assert!(!logged.contains('\n'));
        assert_eq!(error.message, "internal error");
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        assert_eq!(code, Some(Value::from("INTERNAL")));
    }
}
