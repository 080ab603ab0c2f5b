pub mod mutation;
pub mod query;
pub mod types;
