//! The relay and the subscribe-message planner look for outbox rows not yet published or
//! planned. Indexed on the whole table, every row once published leaves an index entry for
//! its old version in the "not yet" range until vacuum removes it, and each look at the
//! range visited all of them (thousands a second at a busy till). Partial indexes hold only
//! the rows still waiting.
//!
//! Every completion inserts about eight ledger postings; the index of postings by their
//! transaction served no query (postings are read by account, order and merchant, and a
//! transaction is never deleted), so it only cost each insert.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(
            m,
            &[
                "DROP INDEX idx_live_outbox_unpublished",
                "DROP INDEX idx_live_outbox_unnotified",
                "CREATE INDEX idx_live_outbox_unpublished ON live_outbox (id) WHERE published_at IS NULL",
                "CREATE INDEX idx_live_outbox_unnotified ON live_outbox (id) WHERE notified_at IS NULL",
                "DROP INDEX idx_ledger_postings_transaction",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(
            m,
            &[
                "DROP INDEX idx_live_outbox_unpublished",
                "DROP INDEX idx_live_outbox_unnotified",
                "CREATE INDEX idx_live_outbox_unpublished ON live_outbox (published_at, id)",
                "CREATE INDEX idx_live_outbox_unnotified ON live_outbox (notified_at, id)",
                "CREATE INDEX idx_ledger_postings_transaction ON ledger_postings (transaction_id)",
            ],
        )
        .await
    }
}
