use sea_orm::entity::prelude::*;

/// One line of a transaction: a signed amount (minor units) on one account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_postings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub transaction_id: i64,
    pub account_id: i64,
    pub merchant_id: i64,
    pub unit: String,
    pub amount: i64,
    pub kind: String,
    pub order_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
