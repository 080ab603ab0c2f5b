use sea_orm::entity::prelude::*;

/// A WeChat Pay refund of (part of) a paid order. Amount in fen; `status` is `PROCESSING`,
/// `SUCCESS` or `FAILED`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refunds")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub order_id: i64,
    pub payment_id: i64,
    #[sea_orm(unique)]
    pub out_refund_no: String,
    pub amount: i64,
    pub reason: Option<String>,
    pub status: String,
    /// WeChat's id of the refund, once it answered.
    pub refund_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
