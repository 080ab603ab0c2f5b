use sea_orm::entity::prelude::*;

/// An order's place in its merchant's queue. `ordinal` is dense per merchant in completion
/// order; `target` and `received` are in fen; `status` is `LIVE` or `COMPLETED`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_entries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub ordinal: i64,
    pub order_id: i64,
    pub user_id: i64,
    pub target: i64,
    pub received: i64,
    pub status: String,
    pub created_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
