//! sea-orm entities: one module a table, nothing but the shape of the data.

pub mod membership;
pub mod merchant;
pub mod platform_admin;
pub mod platform_setting;
pub mod referral_code;
pub mod staff;
pub mod store;
pub mod user;
