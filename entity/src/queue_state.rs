use sea_orm::entity::prelude::*;

/// A merchant's queue counters. Completions lock this row, so one merchant's completions run
/// one at a time while other merchants' never wait.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_states")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub merchant_id: i64,
    pub next_ordinal: i64,
    pub live_count: i64,
    pub completed_count: i64,
    /// The last live event's sequence number for this merchant.
    pub event_seq: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
