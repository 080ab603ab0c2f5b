//! Integration tests through the real router, on SQLite by default and on PostgreSQL when
//! `DATABASE_URL` points at one.

mod helpers;

mod http_protocol;
mod ws_protocol;

mod accounts;
mod audit;
mod auth;
mod batching;
mod concurrency;
mod console_api;
mod dashboard;
mod db_pool;
mod group_commit;
mod joining;
mod ledger_props;
mod limits;
mod live;
mod live_recovery;
mod live_redis;
mod node_suites;
mod notifications;
mod orders;
mod programs;
mod queue;
mod queue_concurrency;
mod queue_live;
mod queue_props;
mod rebate;
mod roles;
mod schema_sync;
mod text_inputs;
mod transfers;
mod value_added;
mod value_added_props;
mod walkthrough;
mod wechat;
mod wechat_pay;
mod withdrawals;
