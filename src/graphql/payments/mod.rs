//! WeChat Pay: a merchant's connection, shoppers' payments.

pub mod mutation;
pub mod query;
pub mod types;
