//! Subscribe messages: the platform's templates and shoppers' grants.

pub mod mutation;
pub mod query;
pub mod types;
