pub mod query;
pub mod types;
