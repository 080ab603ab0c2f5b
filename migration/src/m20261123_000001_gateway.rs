//! Merchants, stores, staff, shoppers, memberships, referral codes and platform settings.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

fn id_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn at_col<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PlatformSettings::Table)
                .col(
                    ColumnDef::new(PlatformSettings::Key)
                        .string()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(PlatformSettings::Value).text().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PlatformAdmins::Table)
                .col(id_col(PlatformAdmins::Id))
                .col(
                    ColumnDef::new(PlatformAdmins::Username)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(PlatformAdmins::PasswordHash)
                        .string()
                        .not_null(),
                )
                .col(at_col(PlatformAdmins::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Merchants::Table)
                .col(id_col(Merchants::Id))
                .col(ColumnDef::new(Merchants::Name).string().not_null())
                .col(at_col(Merchants::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Stores::Table)
                .col(id_col(Stores::Id))
                .col(ColumnDef::new(Stores::MerchantId).big_integer().not_null())
                .col(ColumnDef::new(Stores::Name).string().not_null())
                .col(at_col(Stores::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Stores::Table, Stores::MerchantId)
                        .to(Merchants::Table, Merchants::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_stores_merchant")
                .table(Stores::Table)
                .col(Stores::MerchantId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Staff::Table)
                .col(id_col(Staff::Id))
                .col(ColumnDef::new(Staff::MerchantId).big_integer().not_null())
                .col(
                    ColumnDef::new(Staff::Username)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Staff::PasswordHash).string().not_null())
                .col(ColumnDef::new(Staff::Role).string().not_null())
                .col(at_col(Staff::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Staff::Table, Staff::MerchantId)
                        .to(Merchants::Table, Merchants::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id_col(Users::Id))
                .col(
                    ColumnDef::new(Users::Openid)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Users::Unionid).string().null())
                .col(ColumnDef::new(Users::Nickname).string().null())
                .col(at_col(Users::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_users_unionid")
                .table(Users::Table)
                .col(Users::Unionid)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Memberships::Table)
                .col(id_col(Memberships::Id))
                .col(ColumnDef::new(Memberships::UserId).big_integer().not_null())
                .col(
                    ColumnDef::new(Memberships::MerchantId)
                        .big_integer()
                        .not_null(),
                )
                .col(ColumnDef::new(Memberships::StoreId).big_integer().null())
                .col(ColumnDef::new(Memberships::ReferrerId).big_integer().null())
                .col(ColumnDef::new(Memberships::MemberCode).string().not_null())
                .col(at_col(Memberships::JoinedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::UserId)
                        .to(Users::Table, Users::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::MerchantId)
                        .to(Merchants::Table, Merchants::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::StoreId)
                        .to(Stores::Table, Stores::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Memberships::Table, Memberships::ReferrerId)
                        .to(Users::Table, Users::Id),
                )
                .to_owned(),
        )
        .await?;
        for (name, cols, unique) in [
            (
                "uq_memberships_merchant_user",
                vec![Memberships::MerchantId, Memberships::UserId],
                true,
            ),
            (
                "uq_memberships_merchant_code",
                vec![Memberships::MerchantId, Memberships::MemberCode],
                true,
            ),
            (
                "idx_memberships_merchant_referrer",
                vec![Memberships::MerchantId, Memberships::ReferrerId],
                false,
            ),
            ("idx_memberships_user", vec![Memberships::UserId], false),
        ] {
            let mut index = Index::create();
            index.name(name).table(Memberships::Table);
            for col in cols {
                index.col(col);
            }
            if unique {
                index.unique();
            }
            m.create_index(index.to_owned()).await?;
        }
        m.create_table(
            Table::create()
                .table(ReferralCodes::Table)
                .col(id_col(ReferralCodes::Id))
                .col(
                    ColumnDef::new(ReferralCodes::MerchantId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReferralCodes::StoreId)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ReferralCodes::ReferrerId)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(ReferralCodes::Scene)
                        .string()
                        .not_null()
                        .unique_key(),
                )
                .col(at_col(ReferralCodes::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ReferralCodes::Table, ReferralCodes::MerchantId)
                        .to(Merchants::Table, Merchants::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ReferralCodes::Table, ReferralCodes::StoreId)
                        .to(Stores::Table, Stores::Id),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_referral_codes_owner")
                .table(ReferralCodes::Table)
                .col(ReferralCodes::MerchantId)
                .col(ReferralCodes::StoreId)
                .col(ReferralCodes::ReferrerId)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ReferralCodes::Table.into_iden(),
            Memberships::Table.into_iden(),
            Users::Table.into_iden(),
            Staff::Table.into_iden(),
            Stores::Table.into_iden(),
            Merchants::Table.into_iden(),
            PlatformAdmins::Table.into_iden(),
            PlatformSettings::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum PlatformSettings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum PlatformAdmins {
    Table,
    Id,
    Username,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Merchants {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Stores {
    Table,
    Id,
    MerchantId,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Staff {
    Table,
    Id,
    MerchantId,
    Username,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Openid,
    Unionid,
    Nickname,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    UserId,
    MerchantId,
    StoreId,
    ReferrerId,
    MemberCode,
    JoinedAt,
}

#[derive(DeriveIden)]
enum ReferralCodes {
    Table,
    Id,
    MerchantId,
    StoreId,
    ReferrerId,
    Scene,
    CreatedAt,
}
