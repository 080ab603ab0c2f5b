//! Schema migrations, applied in order at start-up (`fenhong migrate` runs them alone).

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_gateway;
mod m20261123_000002_ledger;
mod m20261123_000003_queue;
mod m20261123_000004_value_added;
mod m20261123_000005_live;
mod m20261123_000006_dashboard;
mod m20261124_000007_accounts;
mod m20261124_000008_wechat_pay;
mod m20261124_000009_transfers;
mod m20261124_000010_notifications;
mod m20261124_000011_time_zone;
mod m20261124_000012_busy_write_paths;
mod m20261125_000013_paid_orders_index;

pub struct Migrator;

/// Runs SQL statements written for both databases, in order.
async fn execute_all(m: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let db = m.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_gateway::Migration),
            Box::new(m20261123_000002_ledger::Migration),
            Box::new(m20261123_000003_queue::Migration),
            Box::new(m20261123_000004_value_added::Migration),
            Box::new(m20261123_000005_live::Migration),
            Box::new(m20261123_000006_dashboard::Migration),
            Box::new(m20261124_000007_accounts::Migration),
            Box::new(m20261124_000008_wechat_pay::Migration),
            Box::new(m20261124_000009_transfers::Migration),
            Box::new(m20261124_000010_notifications::Migration),
            Box::new(m20261124_000011_time_zone::Migration),
            Box::new(m20261124_000012_busy_write_paths::Migration),
            Box::new(m20261125_000013_paid_orders_index::Migration),
        ]
    }
}
