use sea_orm::entity::prelude::*;

/// A live event waiting to be (or already) published: written in the transaction that
/// caused it, relayed after commit.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub seq: i64,
    pub payload: String,
    pub created_at: DateTimeUtc,
    pub published_at: Option<DateTimeUtc>,
    /// When the subscribe-message planner read it.
    pub notified_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
