use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};

use super::types::ValueAddedPricePoint;
use crate::{
    graphql::context::ContextExt,
    services::{parse_id, value_added},
};

#[derive(Default)]
pub struct ValueAddedQuery;

#[Object]
impl ValueAddedQuery {
    /// The value-added price path of a merchant between two times, oldest first, for a
    /// chart (any logged-in user: shoppers see the price they are holding at).
    async fn value_added_history(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ValueAddedPricePoint>> {
        ctx.principal().require_authenticated()?;
        let merchant_id = parse_id(&merchant_id, "merchant")?;
        let points = value_added::history(&ctx.app().db, merchant_id, from, to).await?;
        Ok(points.into_iter().map(Into::into).collect())
    }
}
