use async_graphql::{Context, Object, Result, ID};
use rust_decimal::Decimal;

use super::types::{Order, RecordOrderInput};
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::context::ContextExt,
    services::{
        orders::{self, NewOrder},
        parse_id, payments,
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
        let app = ctx.app();
        let order = orders::record_order_grouped(
            &app.commits,
            &app.db,
            merchant_id,
            staff_id,
            new,
            ctx.now(),
        )
        .await?;
        Ok(Order(order))
    }

    /// Staff: completes a paid order; its rewards are made now and are final.
    async fn complete_order(&self, ctx: &Context<'_>, order_id: ID) -> Result<Order> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Cashier)?;
        let order_id = parse_id(&order_id, "order")?;
        let app = ctx.app();
        Ok(Order(
            orders::complete_order_grouped(&app.commits, &app.db, merchant_id, order_id, ctx.now())
                .await?,
        ))
    }

    /// Staff: refunds a paid (not completed) order. An order paid through WeChat Pay is
    /// refunded through WeChat, whole or in part (`amount`, default all that is left), and
    /// shows the refund in `refunds` until WeChat settles it; a till order is refunded whole
    /// at once. Points it used come back when nothing is left of it.
    async fn refund_order(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
        reason: Option<String>,
        amount: Option<Decimal>,
    ) -> Result<Order> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Cashier)?;
        let order_id = parse_id(&order_id, "order")?;
        let reason = crate::services::clean_note(reason, "refund reason")?;
        let app = ctx.app();
        let found = orders::find_order(&app.db, merchant_id, order_id).await?;
        if let Some(paid) = payments::payment_of_order(&app.db, found.id).await? {
            payments::refund(app, &paid, reason, amount, ctx.now()).await?;
            app.live.wake();
            return Ok(Order(
                orders::find_order(&app.db, merchant_id, order_id).await?,
            ));
        }
        if let Some(amount) = amount {
            let amount =
                crate::rules::money::money(amount, "amount").map_err(AppError::InvalidInput)?;
            if orders::to_fen(amount)? != found.cash_paid {
                return Err(AppError::invalid(
                    "an order paid at the till is refunded whole; leave amount out",
                )
                .into());
            }
        }
        Ok(Order(
            orders::refund_order(&app.db, merchant_id, order_id, reason, ctx.now()).await?,
        ))
    }
}
