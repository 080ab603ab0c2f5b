//! The value-added program's price path: one point per mint, sale and injection, for charts.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(VaPricePoints::Table)
                .col(
                    ColumnDef::new(VaPricePoints::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(VaPricePoints::MerchantId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(VaPricePoints::At)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(VaPricePoints::Price)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(VaPricePoints::Pool).big_integer().not_null())
                .col(
                    ColumnDef::new(VaPricePoints::Supply)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(VaPricePoints::Cause).string().not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_va_price_points_merchant_at")
                .table(VaPricePoints::Table)
                .col(VaPricePoints::MerchantId)
                .col(VaPricePoints::At)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(VaPricePoints::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum VaPricePoints {
    Table,
    Id,
    MerchantId,
    At,
    Price,
    Pool,
    Supply,
    Cause,
}
