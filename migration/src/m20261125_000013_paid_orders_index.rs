//! Orders waiting to be completed automatically are found by an index of those alone.
//!
//! The sweep that completes paid orders after the merchant's days looks for orders still
//! `PAID` (which merchants have any, then each one's oldest). An index of every order by
//! status and time held an entry for each order ever recorded, and every completion at the
//! till (recorded completed at once) paid for inserting one; a partial index of the paid
//! orders holds only those still waiting, and a completed order leaves it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(
            m,
            &[
                "DROP INDEX idx_orders_status_created",
                "CREATE INDEX idx_orders_paid ON orders (merchant_id, created_at) WHERE status = 'PAID'",
            ],
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_all(
            m,
            &[
                "DROP INDEX idx_orders_paid",
                "CREATE INDEX idx_orders_status_created ON orders (status, created_at)",
            ],
        )
        .await
    }
}
