//! Indexes for the dashboard's aggregates and the exports' date ranges.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols) in [
            (
                "idx_orders_merchant_completed",
                "orders",
                vec!["merchant_id", "completed_at"],
            ),
            (
                "idx_orders_merchant_created",
                "orders",
                vec!["merchant_id", "created_at"],
            ),
            (
                "idx_memberships_merchant_joined",
                "memberships",
                vec!["merchant_id", "joined_at"],
            ),
            (
                "idx_ledger_postings_merchant_created",
                "ledger_postings",
                vec!["merchant_id", "created_at"],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Alias::new(table));
            for col in cols {
                index.col(Alias::new(col));
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "idx_orders_merchant_completed",
            "idx_orders_merchant_created",
            "idx_memberships_merchant_joined",
            "idx_ledger_postings_merchant_created",
        ] {
            m.drop_index(Index::drop().name(name).to_owned()).await?;
        }
        Ok(())
    }
}
