//! Programs (versioned), orders, the double-entry ledger, point lots and withdrawals.
//!
//! Amounts are stored as whole minor units (`BIGINT`): fen for CNY, whole points, and
//! 1/10000 of a value-added point, so sums in SQL are exact on every backend.

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

fn big<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

fn big_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}

fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).string().not_null().to_owned()
}

fn at<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn at_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    cols: Vec<Alias>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col);
    }
    if unique {
        stmt.unique();
    }
    m.create_index(stmt.to_owned()).await
}

fn cols(names: &[&str]) -> Vec<Alias> {
    names.iter().map(|n| Alias::new(*n)).collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ProgramVersions::Table)
                .col(id_col(ProgramVersions::Id))
                .col(big(ProgramVersions::MerchantId))
                .col(
                    ColumnDef::new(ProgramVersions::Version)
                        .integer()
                        .not_null(),
                )
                .col(ColumnDef::new(ProgramVersions::Config).text().not_null())
                .col(big_null(ProgramVersions::CreatedBy))
                .col(at(ProgramVersions::CreatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "uq_program_versions",
            ProgramVersions::Table,
            cols(&["merchant_id", "version"]),
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Orders::Table)
                .col(id_col(Orders::Id))
                .col(big(Orders::MerchantId))
                .col(big(Orders::StoreId))
                .col(big(Orders::UserId))
                .col(big(Orders::Amount))
                .col(big(Orders::CashPaid))
                .col(big(Orders::PointsUsed))
                .col(text(Orders::Status))
                .col(text(Orders::IdempotencyKey))
                .col(text(Orders::Fingerprint))
                .col(ColumnDef::new(Orders::ProgramVersion).integer().null())
                .col(big_null(Orders::RecordedBy))
                .col(ColumnDef::new(Orders::RefundReason).string().null())
                .col(at(Orders::CreatedAt))
                .col(at_null(Orders::CompletedAt))
                .col(at_null(Orders::RefundedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "uq_orders_idempotency",
            Orders::Table,
            cols(&["merchant_id", "idempotency_key"]),
            true,
        )
        .await?;
        index(
            m,
            "idx_orders_merchant_status",
            Orders::Table,
            cols(&["merchant_id", "status", "created_at"]),
            false,
        )
        .await?;
        index(
            m,
            "idx_orders_status_created",
            Orders::Table,
            cols(&["status", "created_at"]),
            false,
        )
        .await?;
        index(
            m,
            "idx_orders_user",
            Orders::Table,
            cols(&["merchant_id", "user_id"]),
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LedgerAccounts::Table)
                .col(id_col(LedgerAccounts::Id))
                .col(big(LedgerAccounts::MerchantId))
                .col(text(LedgerAccounts::OwnerKind))
                .col(big(LedgerAccounts::OwnerId))
                .col(text(LedgerAccounts::Kind))
                .col(text(LedgerAccounts::Unit))
                .col(big(LedgerAccounts::Balance))
                .col(
                    ColumnDef::new(LedgerAccounts::NonNegative)
                        .boolean()
                        .not_null(),
                )
                .col(at(LedgerAccounts::CreatedAt))
                // The last line of defence: even a bug cannot drive such an account below zero.
                .check(Expr::cust("balance >= 0 OR NOT non_negative"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "uq_ledger_accounts",
            LedgerAccounts::Table,
            cols(&["merchant_id", "owner_kind", "owner_id", "kind"]),
            true,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LedgerTransactions::Table)
                .col(id_col(LedgerTransactions::Id))
                .col(big(LedgerTransactions::MerchantId))
                .col(text(LedgerTransactions::Cause))
                .col(big_null(LedgerTransactions::OrderId))
                .col(big_null(LedgerTransactions::WithdrawalId))
                .col(ColumnDef::new(LedgerTransactions::Memo).string().null())
                .col(at(LedgerTransactions::CreatedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_ledger_transactions_order",
            LedgerTransactions::Table,
            cols(&["order_id"]),
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LedgerPostings::Table)
                .col(id_col(LedgerPostings::Id))
                .col(big(LedgerPostings::TransactionId))
                .col(big(LedgerPostings::AccountId))
                .col(big(LedgerPostings::MerchantId))
                .col(text(LedgerPostings::Unit))
                .col(big(LedgerPostings::Amount))
                .col(text(LedgerPostings::Kind))
                .col(big_null(LedgerPostings::OrderId))
                .col(at(LedgerPostings::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(LedgerPostings::Table, LedgerPostings::TransactionId)
                        .to(LedgerTransactions::Table, LedgerTransactions::Id),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(LedgerPostings::Table, LedgerPostings::AccountId)
                        .to(LedgerAccounts::Table, LedgerAccounts::Id),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_ledger_postings_account",
            LedgerPostings::Table,
            cols(&["account_id", "id"]),
            false,
        )
        .await?;
        index(
            m,
            "idx_ledger_postings_transaction",
            LedgerPostings::Table,
            cols(&["transaction_id"]),
            false,
        )
        .await?;
        index(
            m,
            "idx_ledger_postings_order",
            LedgerPostings::Table,
            cols(&["order_id"]),
            false,
        )
        .await?;
        index(
            m,
            "idx_ledger_postings_merchant_kind",
            LedgerPostings::Table,
            cols(&["merchant_id", "kind", "created_at"]),
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PointLots::Table)
                .col(id_col(PointLots::Id))
                .col(big(PointLots::MerchantId))
                .col(big(PointLots::UserId))
                .col(big_null(PointLots::OrderId))
                .col(big(PointLots::Points))
                .col(big(PointLots::Remaining))
                .col(big(PointLots::Expired))
                .col(at_null(PointLots::ExpiresAt))
                .col(at(PointLots::CreatedAt))
                .check(Expr::cust("remaining >= 0 AND expired >= 0"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_point_lots_owner",
            PointLots::Table,
            cols(&["merchant_id", "user_id", "expires_at"]),
            false,
        )
        .await?;
        index(
            m,
            "idx_point_lots_expiry",
            PointLots::Table,
            cols(&["expires_at"]),
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PointLotUses::Table)
                .col(id_col(PointLotUses::Id))
                .col(big(PointLotUses::OrderId))
                .col(big(PointLotUses::LotId))
                .col(big(PointLotUses::Points))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_point_lot_uses_order",
            PointLotUses::Table,
            cols(&["order_id"]),
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Withdrawals::Table)
                .col(id_col(Withdrawals::Id))
                .col(big(Withdrawals::MerchantId))
                .col(big(Withdrawals::UserId))
                .col(big(Withdrawals::Amount))
                .col(big(Withdrawals::Fee))
                .col(text(Withdrawals::Status))
                .col(ColumnDef::new(Withdrawals::Note).string().null())
                .col(big_null(Withdrawals::ReviewedBy))
                .col(at(Withdrawals::CreatedAt))
                .col(at_null(Withdrawals::ReviewedAt))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "idx_withdrawals_merchant",
            Withdrawals::Table,
            cols(&["merchant_id", "status", "id"]),
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Withdrawals::Table.into_iden(),
            PointLotUses::Table.into_iden(),
            PointLots::Table.into_iden(),
            LedgerPostings::Table.into_iden(),
            LedgerTransactions::Table.into_iden(),
            LedgerAccounts::Table.into_iden(),
            Orders::Table.into_iden(),
            ProgramVersions::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ProgramVersions {
    Table,
    Id,
    MerchantId,
    Version,
    Config,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    MerchantId,
    StoreId,
    UserId,
    Amount,
    CashPaid,
    PointsUsed,
    Status,
    IdempotencyKey,
    Fingerprint,
    ProgramVersion,
    RecordedBy,
    RefundReason,
    CreatedAt,
    CompletedAt,
    RefundedAt,
}

#[derive(DeriveIden)]
enum LedgerAccounts {
    Table,
    Id,
    MerchantId,
    OwnerKind,
    OwnerId,
    Kind,
    Unit,
    Balance,
    NonNegative,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerTransactions {
    Table,
    Id,
    MerchantId,
    Cause,
    OrderId,
    WithdrawalId,
    Memo,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LedgerPostings {
    Table,
    Id,
    TransactionId,
    AccountId,
    MerchantId,
    Unit,
    Amount,
    Kind,
    OrderId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PointLots {
    Table,
    Id,
    MerchantId,
    UserId,
    OrderId,
    Points,
    Remaining,
    Expired,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PointLotUses {
    Table,
    Id,
    OrderId,
    LotId,
    Points,
}

#[derive(DeriveIden)]
enum Withdrawals {
    Table,
    Id,
    MerchantId,
    UserId,
    Amount,
    Fee,
    Status,
    Note,
    ReviewedBy,
    CreatedAt,
    ReviewedAt,
}
