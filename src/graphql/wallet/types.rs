use async_graphql::{
    connection::{Connection, ConnectionNameType, DefaultEdgeName, Edge, EmptyFields},
    Context, Enum, Object, OutputType, Result, SimpleObject, ID,
};
use chrono::{DateTime, Utc};
use entity::withdrawal;
use rust_decimal::Decimal;

use crate::graphql::loaders;
use crate::{
    graphql::{
        account::types::User, context::ContextExt, membership::query::page_args,
        membership::types::load_user, orders::types::Unit,
    },
    ledger::AccountKind,
    rules::money,
    services::{value_added, wallet},
};

/// A page of a wallet's history: `LedgerConnection`, as API.md names it.
pub type LedgerConnection = Connection<
    String,
    LedgerEntry,
    EmptyFields,
    EmptyFields,
    LedgerConnectionName,
    DefaultEdgeName,
>;

pub struct LedgerConnectionName;

impl ConnectionNameType for LedgerConnectionName {
    fn type_name<T: OutputType>() -> String {
        "LedgerConnection".into()
    }
}

/// What a shopper holds at one merchant.
pub struct Wallet {
    pub merchant_id: i64,
    pub user_id: i64,
}

impl Wallet {
    /// One of the shopper's balances here (each field reads only its own account).
    async fn balance(&self, ctx: &Context<'_>, kind: AccountKind) -> Result<Decimal> {
        let key = loaders::BalanceOf {
            merchant_id: self.merchant_id,
            user_id: self.user_id,
            kind,
        };
        Ok(loaders::one(ctx, key).await?.unwrap_or_default())
    }
}

#[Object]
impl Wallet {
    /// Cash that can be withdrawn.
    async fn cash(&self, ctx: &Context<'_>) -> Result<Decimal> {
        self.balance(ctx, AccountKind::Cash).await
    }

    /// Cash held for withdrawals awaiting review.
    async fn cash_on_hold(&self, ctx: &Context<'_>) -> Result<Decimal> {
        self.balance(ctx, AccountKind::CashOnHold).await
    }

    /// Rebate points.
    async fn points(&self, ctx: &Context<'_>) -> Result<i32> {
        let points = self.balance(ctx, AccountKind::Points).await?;
        Ok(money::Unit::Points
            .to_minor(points)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(i32::MAX))
    }

    /// Rebate points held for WeChat Pay payments not yet paid.
    async fn points_on_hold(&self, ctx: &Context<'_>) -> Result<i32> {
        let points = self.balance(ctx, AccountKind::PointsOnHold).await?;
        Ok(money::Unit::Points
            .to_minor(points)
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or(i32::MAX))
    }

    /// Value-added points held.
    async fn value_added_points(&self, ctx: &Context<'_>) -> Result<Decimal> {
        let mut held = self.balance(ctx, AccountKind::VaPoints).await?;
        held.rescale(4);
        Ok(held)
    }

    /// What selling every value-added point held would gross now (before the fee).
    async fn value_added_worth(&self, ctx: &Context<'_>) -> Result<Decimal> {
        let db = &ctx.app().db;
        let held = value_added::holding(db, self.merchant_id, self.user_id).await?;
        Ok(value_added::pool_of(db, self.merchant_id)
            .await?
            .gross_of(held))
    }

    /// Every movement of the shopper's balances here, newest first.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<LedgerConnection> {
        let (first, after) = page_args(first, after)?;
        let mut rows = wallet::history(
            &ctx.app().db,
            self.merchant_id,
            self.user_id,
            after,
            first + 1,
        )
        .await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut connection = LedgerConnection::new(after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().map(|entry| {
            let unit = money::Unit::parse(&entry.posting.unit).unwrap_or(money::Unit::Cny);
            Edge::new(
                entry.posting.id.to_string(),
                LedgerEntry {
                    id: ID(entry.posting.id.to_string()),
                    at: entry.posting.created_at,
                    unit: unit.into(),
                    amount: unit.from_minor(entry.posting.amount),
                    kind: entry.posting.kind,
                    order_id: entry.posting.order_id.map(|id| ID(id.to_string())),
                    memo: entry.memo,
                    account: entry.account,
                },
            )
        }));
        Ok(connection)
    }
}

/// One line of a shopper's history.
#[derive(SimpleObject)]
pub struct LedgerEntry {
    pub id: ID,
    pub at: DateTime<Utc>,
    pub unit: Unit,
    /// Signed: positive adds to the balance.
    pub amount: Decimal,
    /// What it was: REBATE_POINTS, POINTS_REDEEMED, POINTS_RESTORED, POINTS_EXPIRED,
    /// WITHDRAWAL_HOLD, WITHDRAWAL_PAID, WITHDRAWAL_RETURNED, QUEUE_SHARE, REFERRAL, …
    pub kind: String,
    pub order_id: Option<ID>,
    pub memo: Option<String>,
    /// Which balance moved: CASH, CASH_ON_HOLD, POINTS or VA_POINTS.
    pub account: String,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum WithdrawalStatus {
    Pending,
    /// Approved and paid by hand (a merchant without WeChat Pay).
    Approved,
    Rejected,
    /// Being transferred to the shopper's WeChat balance; she confirms receipt.
    Transferring,
    /// Transferred to her WeChat balance.
    Paid,
    /// The transfer failed, or was cancelled or not confirmed: the amount is back in her cash.
    Failed,
}

impl WithdrawalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Transferring => "TRANSFERRING",
            Self::Paid => "PAID",
            Self::Failed => "FAILED",
        }
    }
}

pub struct Withdrawal(pub withdrawal::Model);

/// What `wx.requestMerchantTransfer` takes to let the shopper confirm a transfer.
#[derive(SimpleObject)]
pub struct TransferConfirmation {
    pub mch_id: String,
    pub app_id: String,
    pub package_info: String,
}

#[Object]
impl Withdrawal {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> Decimal {
        money::Unit::Cny.from_minor(self.0.amount)
    }

    /// What the merchant keeps of the amount.
    async fn fee(&self) -> Decimal {
        money::Unit::Cny.from_minor(self.0.fee)
    }

    /// What the shopper receives when approved.
    async fn net(&self) -> Decimal {
        money::Unit::Cny.from_minor(self.0.amount - self.0.fee)
    }

    async fn status(&self) -> WithdrawalStatus {
        match self.0.status.as_str() {
            "APPROVED" => WithdrawalStatus::Approved,
            "REJECTED" => WithdrawalStatus::Rejected,
            "TRANSFERRING" => WithdrawalStatus::Transferring,
            "PAID" => WithdrawalStatus::Paid,
            "FAILED" => WithdrawalStatus::Failed,
            _ => WithdrawalStatus::Pending,
        }
    }

    /// While the transfer waits for her: what `wx.requestMerchantTransfer` takes (her own
    /// withdrawal only).
    async fn confirmation(&self, ctx: &Context<'_>) -> Result<Option<TransferConfirmation>> {
        let Some(package_info) = self.0.package_info.clone() else {
            return Ok(None);
        };
        if ctx.principal().require_shopper().ok() != Some(self.0.user_id)
            || self.0.status != crate::services::transfers::TRANSFERRING
        {
            return Ok(None);
        }
        let app = ctx.app();
        let Some(account) =
            crate::services::payments::account_row(&app.db, self.0.merchant_id).await?
        else {
            return Ok(None);
        };
        Ok(Some(TransferConfirmation {
            mch_id: account.mchid,
            app_id: app.config.appid().to_owned(),
            package_info,
        }))
    }

    /// Why the transfer failed (FAILED only).
    async fn fail_reason(&self) -> Option<&str> {
        self.0.fail_reason.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reviewed_at
    }

    async fn note(&self) -> Option<&str> {
        self.0.note.as_deref()
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        load_user(ctx, self.0.user_id).await
    }
}
