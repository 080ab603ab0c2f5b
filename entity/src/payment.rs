use sea_orm::entity::prelude::*;

/// A shopper's WeChat Pay payment at a store. Amounts in fen; `status` is `PENDING`, `PAID`
/// or `CLOSED`. `points_used` are held from creation until it is paid (spent) or closed
/// (released).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub store_id: i64,
    pub user_id: i64,
    #[sea_orm(unique)]
    pub out_trade_no: String,
    pub amount: i64,
    pub cash_amount: i64,
    pub points_used: i64,
    pub description: String,
    pub status: String,
    pub prepay_id: Option<String>,
    pub transaction_id: Option<String>,
    /// The order the payment recorded once paid.
    pub order_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
