use std::sync::Arc;

use async_graphql::{Context, Object, Result, ID};

use super::types::Merchant;
use crate::{
    auth::StaffRole,
    graphql::{
        account::types::ApiKey,
        context::{ContextExt, Guard},
        loaders::{self, MerchantId, SharedMerchants},
    },
    services::{accounts, parse_id},
};

#[derive(Default)]
pub struct MerchantQuery;

#[Object]
impl MerchantQuery {
    /// A merchant's public face (name, stores); `null` if there is no such merchant.
    async fn merchant(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Merchant>> {
        ctx.principal().require_authenticated()?;
        let id = parse_id(&id, "merchant")?;
        // Every request's lookups share one reader: many at once go in one statement.
        let merchants = ctx.data_unchecked::<Arc<SharedMerchants>>();
        let found = merchants
            .load_one(MerchantId(id))
            .await
            .map_err(loaders::own)?;
        Ok(found.map(Merchant))
    }

    /// Owner: the merchant's API keys, revoked ones included (never their secrets).
    async fn api_keys(&self, ctx: &Context<'_>, merchant_id: ID) -> Result<Vec<ApiKey>> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let keys = accounts::api_keys_of(&ctx.app().db, merchant_id).await?;
        Ok(keys.into_iter().map(ApiKey).collect())
    }
}
