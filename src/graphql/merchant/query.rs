use async_graphql::{Context, Object, Result, ID};

use super::types::Merchant;
use crate::{
    error::AppError,
    graphql::context::ContextExt,
    services::{merchants, parse_id},
};

#[derive(Default)]
pub struct MerchantQuery;

#[Object]
impl MerchantQuery {
    /// A merchant's public face (name, stores); `null` if there is no such merchant.
    async fn merchant(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Merchant>> {
        ctx.principal().require_authenticated()?;
        let id = parse_id(&id, "merchant")?;
        match merchants::find_merchant(&ctx.app().db, id).await {
            Ok(found) => Ok(Some(Merchant(found))),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}
