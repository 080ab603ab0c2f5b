use async_graphql::{Context, Object, Result, ID};

use super::types::{Withdrawal, WithdrawalStatus};
use crate::{
    auth::StaffRole,
    graphql::context::{ContextExt, Guard},
    services::withdrawals,
};

#[derive(Default)]
pub struct WalletQuery;

#[Object]
impl WalletQuery {
    /// Staff: the merchant's withdrawals, newest first (at most 1000).
    async fn withdrawals(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        status: Option<WithdrawalStatus>,
    ) -> Result<Vec<Withdrawal>> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Cashier)?;
        let rows = withdrawals::withdrawals_of(
            &ctx.app().db,
            merchant_id,
            status.map(WithdrawalStatus::as_str),
        )
        .await?;
        Ok(rows.into_iter().map(Withdrawal).collect())
    }
}
