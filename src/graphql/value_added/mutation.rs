use async_graphql::{Context, Object, Result, ID};
use rust_decimal::Decimal;

use super::types::{ValueAddedSale, ValueAddedState};
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::context::{ContextExt, Guard},
    services::{parse_id, programs, value_added},
};

#[derive(Default)]
pub struct ValueAddedMutation;

#[Object]
impl ValueAddedMutation {
    /// Shopper: sells value-added points back to the pool at the current price, less the
    /// redemption fee (which stays in the pool).
    async fn sell_value_added_points(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        points: Decimal,
    ) -> Result<ValueAddedSale> {
        let user_id = ctx.principal().require_shopper()?;
        let merchant_id = parse_id(&merchant_id, "merchant")?;
        let sale =
            value_added::sell(&ctx.app().db, merchant_id, user_id, points, ctx.now()).await?;
        Ok(sale.into())
    }

    /// Owner: adds cash to the pool, which raises the price of every point.
    async fn inject_value_added_pool(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        amount: Decimal,
    ) -> Result<ValueAddedState> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let db = &ctx.app().db;
        let pool = value_added::inject(db, merchant_id, amount, ctx.now()).await?;
        let rules = programs::current(db, merchant_id)
            .await?
            .set
            .value_added
            .ok_or_else(|| AppError::invalid("this merchant has no value-added program"))?;
        Ok(ValueAddedState::of(pool, &rules))
    }
}
