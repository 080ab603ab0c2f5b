//! The queue free-order program: entries in completion order and each merchant's queue
//! state (the row completions of one merchant lock, so they run one at a time).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(QueueStates::Table)
                .col(
                    ColumnDef::new(QueueStates::MerchantId)
                        .big_integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(QueueStates::NextOrdinal)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueStates::LiveCount)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueStates::CompletedCount)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueStates::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(QueueEntries::Table)
                .col(
                    ColumnDef::new(QueueEntries::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(QueueEntries::MerchantId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueEntries::Ordinal)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueEntries::OrderId)
                        .big_integer()
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(QueueEntries::UserId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueEntries::Target)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueEntries::Received)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(QueueEntries::Status).string().not_null())
                .col(
                    ColumnDef::new(QueueEntries::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(QueueEntries::CompletedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .check(Expr::cust("received >= 0 AND received <= target"))
                .to_owned(),
        )
        .await?;
        let indexes: [(&str, Vec<QueueEntries>, bool); 4] = [
            (
                "uq_queue_entries_ordinal",
                vec![QueueEntries::MerchantId, QueueEntries::Ordinal],
                true,
            ),
            (
                "idx_queue_entries_head",
                vec![
                    QueueEntries::MerchantId,
                    QueueEntries::Status,
                    QueueEntries::Ordinal,
                ],
                false,
            ),
            (
                "idx_queue_entries_completed",
                vec![QueueEntries::MerchantId, QueueEntries::CompletedAt],
                false,
            ),
            (
                "idx_queue_entries_user",
                vec![QueueEntries::UserId, QueueEntries::MerchantId],
                false,
            ),
        ];
        for (name, cols, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(QueueEntries::Table);
            for col in cols {
                index.col(col);
            }
            if unique {
                index.unique();
            }
            m.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(QueueEntries::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(QueueStates::Table).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum QueueStates {
    Table,
    MerchantId,
    NextOrdinal,
    LiveCount,
    CompletedCount,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum QueueEntries {
    Table,
    Id,
    MerchantId,
    Ordinal,
    OrderId,
    UserId,
    Target,
    Received,
    Status,
    CreatedAt,
    CompletedAt,
}
