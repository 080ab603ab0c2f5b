use async_graphql::{Context, Object, Result, ID};
use rust_decimal::Decimal;
use sea_orm::TransactionTrait;

use super::types::Withdrawal;
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::context::{ContextExt, Guard},
    services::{parse_id, points, withdrawals},
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

    /// Owner or manager: approves (paid out of the hold) or rejects (back to the balance).
    async fn review_withdrawal(
        &self,
        ctx: &Context<'_>,
        withdrawal_id: ID,
        approve: bool,
        note: Option<String>,
    ) -> Result<Withdrawal> {
        let (staff_id, merchant_id) = ctx.principal().require_own_staff(StaffRole::Manager)?;
        let withdrawal_id = parse_id(&withdrawal_id, "withdrawal")?;
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
