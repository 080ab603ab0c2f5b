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
            Self::RateLimited(_) => "RATE_LIMITED",
            Self::Internal(_) => "INTERNAL",
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(err.into())
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
/// that is the client's input. Any other source is a server failure: it is logged with its
/// whole chain and the client sees only `INTERNAL`.
pub fn classify(err: &mut ServerError) {
    let code = match err.source::<AppError>() {
        Some(AppError::Internal(cause)) => {
            tracing::error!(error = ?cause, path = ?err.path, "internal error");
            err.message = "internal error".into();
            "INTERNAL"
        }
        Some(app) => app.code(),
        None if err.source.is_some() => {
            tracing::error!(message = %err.message, path = ?err.path, "unexpected error");
            err.message = "internal error".into();
            "INTERNAL"
        }
        None => "INVALID_INPUT",
    };
    err.extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", Value::from(code));
}

/// Gives subscription errors (sent over the WebSocket) their `extensions.code` too; query and
/// mutation responses are classified by the HTTP handler, which sees every error.
pub struct ErrorCodes;

impl async_graphql::extensions::ExtensionFactory for ErrorCodes {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ErrorCodesExtension {
    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures::stream::BoxStream<'s, async_graphql::Response> {
        use futures::StreamExt;
        next.run(ctx, stream)
            .map(|mut response| {
                for error in &mut response.errors {
                    classify(error);
                }
                response
            })
            .boxed()
    }
}
