//! The rules of the product as plain functions over plain values: no database, no clock, no
//! network. Services feed them what they read and write what they return.

pub mod money;
pub mod programs;
pub mod queue;
pub mod queue_book;
pub mod rebate;
pub mod referral;
pub mod scene;
pub mod value_added;
