use async_graphql::{Context, Object, Result, ID};
use rust_decimal::Decimal;
use sea_orm::TransactionTrait;

use super::types::Withdrawal;
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::context::{ContextExt, Guard},
    services::{parse_id, payments, points, transfers, withdrawals},
};

#[derive(Default)]
pub struct WalletMutation;

#[Object]
impl WalletMutation {
    /// Shopper: asks to take cash out. The amount is held at once, so it cannot be asked for
    /// twice.
    async fn request_withdrawal(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        amount: Decimal,
    ) -> Result<Withdrawal> {
        let user_id = ctx.principal().require_shopper()?;
        let merchant_id = parse_id(&merchant_id, "merchant")?;
        let created =
            withdrawals::request_withdrawal(&ctx.app().db, merchant_id, user_id, amount, ctx.now())
                .await?;
        Ok(Withdrawal(created))
    }

    /// Owner or manager: approves or rejects (back to the balance). With WeChat Pay an
    /// approval transfers the net amount to the shopper's WeChat balance (TRANSFERRING until
    /// she confirms: PAID, or FAILED with the amount back); without, it is paid by hand
    /// (APPROVED).
    async fn review_withdrawal(
        &self,
        ctx: &Context<'_>,
        withdrawal_id: ID,
        approve: bool,
        note: Option<String>,
    ) -> Result<Withdrawal> {
        let (staff_id, merchant_id) = ctx.principal().require_own_staff(StaffRole::Manager)?;
        let withdrawal_id = parse_id(&withdrawal_id, "withdrawal")?;
        let app = ctx.app();
        if approve {
            let note = crate::services::clean_note(note.clone(), "note")?;
            let found = withdrawals::find(&app.db, withdrawal_id).await?;
            if found.merchant_id != merchant_id {
                return Err(AppError::NotFound("withdrawal").into());
            }
            if let Some(account) = payments::account(app, merchant_id).await? {
                let reviewed =
                    transfers::approve(app, &account, found, staff_id, note, ctx.now()).await?;
                app.live.wake();
                return Ok(Withdrawal(reviewed));
            }
        }
        let reviewed = withdrawals::review_withdrawal(
            &ctx.app().db,
            merchant_id,
            staff_id,
            withdrawal_id,
            approve,
            note,
            ctx.now(),
        )
        .await?;
        Ok(Withdrawal(reviewed))
    }

    /// Shopper: takes back her withdrawal while it is PENDING or waits for her confirmation
    /// (the transfer is cancelled at WeChat; the amount returns to her cash once it is).
    async fn cancel_withdrawal(&self, ctx: &Context<'_>, withdrawal_id: ID) -> Result<Withdrawal> {
        let user_id = ctx.principal().require_shopper()?;
        let withdrawal_id = parse_id(&withdrawal_id, "withdrawal")?;
        let app = ctx.app();
        let cancelled = transfers::cancel(app, user_id, withdrawal_id, ctx.now()).await?;
        app.live.wake();
        Ok(Withdrawal(cancelled))
    }

    /// Owner: moves the expiry of every live points lot `days` later; returns the lots moved.
    async fn extend_points_expiry(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        days: i32,
    ) -> Result<i32> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let now = ctx.now();
        let extended = ctx
            .app()
            .db
            .transaction::<_, _, AppError>(|tx| {
                Box::pin(async move {
                    crate::db::claim_writer(tx).await?;
                    points::extend_expiry(tx, merchant_id, days, now).await
                })
            })
            .await
            .map_err(AppError::from)?;
        Ok(extended)
    }
}
