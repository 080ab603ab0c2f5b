use async_graphql::{Context, Object, Result, ID};

use super::types::Payment;
use crate::{
    auth::Principal,
    error::AppError,
    graphql::context::ContextExt,
    services::{parse_id, payments},
};

#[derive(Default)]
pub struct PaymentsQuery;

#[Object]
impl PaymentsQuery {
    /// A payment: the shopper who made it, or the merchant's staff.
    async fn payment(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Payment>> {
        let principal = ctx.principal();
        principal.require_authenticated()?;
        let id = parse_id(&id, "payment")?;
        let found = match payments::find_payment(&ctx.app().db, id).await {
            Ok(found) => found,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let visible = match principal {
            Principal::Shopper { user_id } => user_id == found.user_id,
            _ => principal.can_see_merchant_internals(found.merchant_id),
        };
        Ok(visible.then_some(Payment(found)))
    }
}
