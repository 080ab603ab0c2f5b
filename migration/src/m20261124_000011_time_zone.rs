//! A merchant's time zone: its days (dashboard, "today", exports, messages) start at its
//! midnight.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Merchants::Table)
                .add_column(
                    ColumnDef::new(Merchants::TimeZone)
                        .string()
                        .not_null()
                        .default("Asia/Shanghai"),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Merchants {
    Table,
    TimeZone,
}
