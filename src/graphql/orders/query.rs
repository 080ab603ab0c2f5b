use async_graphql::{
    connection::{Connection, Edge},
    Context, Object, Result, ID,
};

use super::types::{Order, OrderStatus};
use crate::{
    auth::StaffRole,
    graphql::{
        context::{ContextExt, Guard},
        membership::query::page_args,
    },
    services::orders,
};

#[derive(Default)]
pub struct OrdersQuery;

#[Object]
impl OrdersQuery {
    /// Staff: the merchant's orders, newest first.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        status: Option<OrderStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Order>> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Cashier)?;
        let (first, after) = page_args(first, after)?;
        let mut rows = orders::orders_page(
            &ctx.app().db,
            merchant_id,
            status.map(OrderStatus::as_str),
            after,
            first + 1,
        )
        .await?;
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
