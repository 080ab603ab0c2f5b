//! Subscribe messages: the platform's templates per event, shoppers' one-time grants, and
//! the messages planned from the live outbox (at most one per event, user and cause).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(NotificationTemplates::Table)
                .col(
                    ColumnDef::new(NotificationTemplates::Event)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(NotificationTemplates::TemplateId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationTemplates::Page)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationTemplates::Fields)
                        .text()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationTemplates::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationGrants::Table)
                .col(
                    ColumnDef::new(NotificationGrants::UserId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationGrants::TemplateId)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationGrants::Remaining)
                        .integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(NotificationGrants::UserId)
                        .col(NotificationGrants::TemplateId),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(NotificationSends::Table)
                .col(
                    ColumnDef::new(NotificationSends::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(NotificationSends::Event).string().not_null())
                .col(
                    ColumnDef::new(NotificationSends::UserId)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(NotificationSends::Cause).string().not_null())
                .col(
                    ColumnDef::new(NotificationSends::MerchantId)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(NotificationSends::Vars).text().not_null())
                .col(
                    ColumnDef::new(NotificationSends::Status)
                        .string()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationSends::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(NotificationSends::NextAttemptAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(NotificationSends::Error).string().null())
                .col(
                    ColumnDef::new(NotificationSends::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(NotificationSends::SentAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notification_sends_once")
                .table(NotificationSends::Table)
                .col(NotificationSends::Event)
                .col(NotificationSends::UserId)
                .col(NotificationSends::Cause)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_notification_sends_due")
                .table(NotificationSends::Table)
                .col(NotificationSends::Status)
                .col(NotificationSends::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(LiveOutbox::Table)
                .add_column(
                    ColumnDef::new(LiveOutbox::NotifiedAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .to_owned(),
        )
        .await?;
        // Events from before subscribe messages existed are not announced now.
        m.exec_stmt(
            Query::update()
                .table(LiveOutbox::Table)
                .value(LiveOutbox::NotifiedAt, Expr::col(LiveOutbox::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_live_outbox_unnotified")
                .table(LiveOutbox::Table)
                .col(LiveOutbox::NotifiedAt)
                .col(LiveOutbox::Id)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            NotificationSends::Table.into_iden(),
            NotificationGrants::Table.into_iden(),
            NotificationTemplates::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum NotificationTemplates {
    Table,
    Event,
    TemplateId,
    Page,
    Fields,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum NotificationGrants {
    Table,
    UserId,
    TemplateId,
    Remaining,
}

#[derive(DeriveIden)]
enum NotificationSends {
    Table,
    Id,
    Event,
    UserId,
    Cause,
    MerchantId,
    Vars,
    Status,
    Attempts,
    NextAttemptAt,
    Error,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum LiveOutbox {
    Table,
    Id,
    CreatedAt,
    NotifiedAt,
}
