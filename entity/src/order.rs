use sea_orm::entity::prelude::*;

/// A purchase. Amounts in fen; `status` is `PAID`, `COMPLETED` or `REFUNDED`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub store_id: i64,
    pub user_id: i64,
    pub amount: i64,
    pub cash_paid: i64,
    pub points_used: i64,
    pub status: String,
    pub idempotency_key: String,
    /// What the request asked for, to tell a replay from a different order under one key.
    pub fingerprint: String,
    /// The program version the completion used.
    pub program_version: Option<i32>,
    pub recorded_by: Option<i64>,
    pub refund_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    pub refunded_at: Option<DateTimeUtc>,
    /// What WeChat Pay refunds have given back so far (fen); never more than `cash_paid`.
    pub refunded_amount: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
