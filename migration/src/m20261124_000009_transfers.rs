//! Withdrawals paid by WeChat Pay merchant transfer: the bill each one is paid with.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for column in [
            ColumnDef::new(Withdrawals::OutBillNo)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Withdrawals::TransferBillNo)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Withdrawals::PackageInfo)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Withdrawals::FailReason)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Withdrawals::SettledAt)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
        ] {
            let mut column = column;
            m.alter_table(
                Table::alter()
                    .table(Withdrawals::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_withdrawals_status_reviewed")
                .table(Withdrawals::Table)
                .col(Withdrawals::Status)
                .col(Withdrawals::ReviewedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("idx_withdrawals_status_reviewed")
                .to_owned(),
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Withdrawals {
    Table,
    Status,
    ReviewedAt,
    OutBillNo,
    TransferBillNo,
    PackageInfo,
    FailReason,
    SettledAt,
}
