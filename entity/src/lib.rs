//! sea-orm entities: one module a table, nothing but the shape of the data.

pub mod api_key;
pub mod ledger_account;
pub mod ledger_posting;
pub mod ledger_transaction;
pub mod live_outbox;
pub mod membership;
pub mod merchant;
pub mod order;
pub mod payment;
pub mod payment_point_hold;
pub mod platform_admin;
pub mod platform_setting;
pub mod point_lot;
pub mod point_lot_use;
pub mod program_version;
pub mod queue_entry;
pub mod queue_state;
pub mod referral_code;
pub mod refund;
pub mod staff;
pub mod store;
pub mod user;
pub mod va_price_point;
pub mod wechat_pay_account;
pub mod withdrawal;
