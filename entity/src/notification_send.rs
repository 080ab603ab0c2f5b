use sea_orm::entity::prelude::*;

/// A subscribe message to send: at most one per (event, user, cause). `status` is
/// `PENDING`, `SENDING`, `SENT`, `SKIPPED` (not granted), `REFUSED` (43101) or `FAILED`.
/// `vars` is JSON of the event's variables, already formatted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_sends")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event: String,
    pub user_id: i64,
    pub cause: String,
    pub merchant_id: i64,
    pub vars: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
