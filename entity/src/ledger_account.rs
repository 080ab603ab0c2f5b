use sea_orm::entity::prelude::*;

/// An account of the ledger: per merchant, owner (a shopper or the merchant) and kind.
/// `balance` (minor units) is a cache of the sum of its postings, kept in the same transaction.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_accounts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub owner_kind: String,
    pub owner_id: i64,
    pub kind: String,
    pub unit: String,
    pub balance: i64,
    pub non_negative: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
