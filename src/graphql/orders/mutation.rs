use async_graphql::{Context, Object, Result, ID};

use super::types::{Order, RecordOrderInput};
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::context::ContextExt,
    services::{
        orders::{self, NewOrder},
        parse_id,
    },
};

#[derive(Default)]
pub struct OrdersMutation;

#[Object]
impl OrdersMutation {
    /// Staff (cashier up): records a purchase by `userId` or `memberCode`. Replaying the same
    /// `idempotencyKey` with the same content returns the first order.
    async fn record_order(&self, ctx: &Context<'_>, input: RecordOrderInput) -> Result<Order> {
        let (staff_id, merchant_id) = ctx.principal().require_own_staff(StaffRole::Cashier)?;
        let points_to_use = input.points_to_use.unwrap_or(0);
        let new = NewOrder {
            store_id: parse_id(&input.store_id, "store")?,
            user_id: input
                .user_id
                .as_ref()
                .map(|id| parse_id(id, "user"))
                .transpose()?,
            member_code: input.member_code,
            amount: input.amount,
            points_to_use: points_to_use.into(),
            idempotency_key: input.idempotency_key,
            complete: input.complete.unwrap_or(false),
        };
        if new.user_id.is_none() && new.member_code.is_none() {
            return Err(AppError::invalid("give the shopper's userId or memberCode").into());
        }
        let order =
            orders::record_order(&ctx.app().db, merchant_id, staff_id, new, ctx.now()).await?;
        Ok(Order(order))
    }

    /// Staff: completes a paid order; its rewards are made now and are final.
    async fn complete_order(&self, ctx: &Context<'_>, order_id: ID) -> Result<Order> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Cashier)?;
        let order_id = parse_id(&order_id, "order")?;
        Ok(Order(
            orders::complete_order(&ctx.app().db, merchant_id, order_id, ctx.now()).await?,
        ))
    }

    /// Staff: refunds a paid (not completed) order; points it used come back.
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        reason: Option<String>,
    ) -> Result<Order> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Cashier)?;
        let order_id = parse_id(&order_id, "order")?;
        Ok(Order(
            orders::refund_order(&ctx.app().db, merchant_id, order_id, reason, ctx.now()).await?,
        ))
    }
}
