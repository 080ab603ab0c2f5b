use chrono::{DateTime, Utc};

use async_graphql::{
    connection::{Connection, Edge},
    Context, Object, Result, ID,
};

use super::types::{Order, OrderStatus};
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::{
        context::{ContextExt, Guard},
        membership::query::page_args,
    },
    services::{orders, parse_id},
};

#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// Staff: one of the merchant's orders; `null` if the merchant has no such order.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Cashier)?;
        let id = parse_id(&id, "order")?;
        match orders::find_order(&ctx.app().db, merchant_id, id).await {
            Ok(order) => Ok(Some(Order(order))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Staff: the merchant's orders, newest first; optionally only those with `status`, at
    /// `storeId`, of `userId`, or created from `from` (inclusive) to `to` (exclusive).
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        status: Option<OrderStatus>,
        store_id: Option<ID>,
        user_id: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Order>> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Cashier)?;
        let (first, after) = page_args(first, after)?;
        let filter = orders::OrderFilter {
            status: status.map(OrderStatus::as_str),
            store_id: store_id.map(|id| parse_id(&id, "store")).transpose()?,
            user_id: user_id.map(|id| parse_id(&id, "user")).transpose()?,
            from,
            to,
        };
        let mut rows =
            orders::orders_page(&ctx.app().db, merchant_id, &filter, after, first + 1).await?;
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        let mut connection = Connection::new(after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(row.id.to_string(), Order(row))),
        );
        Ok(connection)
    }
}
