//! Fenhong: the GraphQL gateway of mini-program stores' reward programs.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod ledger;
pub mod live;
pub mod qr;
pub mod rules;
pub mod secrets;
pub mod services;
pub mod wechat_server;
pub mod wechatpay_api;

pub use app::{AppState, Fenhong};
