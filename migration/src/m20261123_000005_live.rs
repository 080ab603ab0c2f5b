//! Live events: an outbox written in the transaction that caused each event and relayed
//! after commit, and a per-merchant event sequence number.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(QueueStates::Table)
                .add_column(
                    ColumnDef::new(QueueStates::EventSeq)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LiveOutbox::Table)
                .col(
                    ColumnDef::new(LiveOutbox::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(LiveOutbox::MerchantId)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(LiveOutbox::Seq).big_integer().not_null())
                .col(ColumnDef::new(LiveOutbox::Payload).text().not_null())
                .col(
                    ColumnDef::new(LiveOutbox::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(LiveOutbox::PublishedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_live_outbox_unpublished")
                .table(LiveOutbox::Table)
                .col(LiveOutbox::PublishedAt)
                .col(LiveOutbox::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(LiveOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum QueueStates {
    Table,
    EventSeq,
}

#[derive(DeriveIden)]
enum LiveOutbox {
    Table,
    Id,
    MerchantId,
    Seq,
    Payload,
    CreatedAt,
    PublishedAt,
}
