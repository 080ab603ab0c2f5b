use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};
use entity::membership;

use crate::graphql::loaders;
use crate::{
    error::AppError,
    graphql::{
        account::types::User,
        context::ContextExt,
        merchant::types::{Merchant, QrCode, Store},
    },
    services::members,
};

/// A shopper's membership of one merchant.
pub struct Membership {
    pub model: membership::Model,
    pub just_joined: bool,
}

impl From<membership::Model> for Membership {
    fn from(model: membership::Model) -> Self {
        Self {
            model,
            just_joined: false,
        }
    }
}

/// A shopper, loaded in a batch with the others a page asks for.
pub async fn load_user(ctx: &Context<'_>, id: i64) -> Result<User> {
    let found = loaders::one(ctx, loaders::UserId(id))
        .await?
        .ok_or(AppError::NotFound("user"))?;
    Ok(User(found))
}

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }

    async fn merchant(&self, ctx: &Context<'_>) -> Result<Merchant> {
        let found = loaders::one(ctx, loaders::MerchantId(self.model.merchant_id))
            .await?
            .ok_or(AppError::NotFound("merchant"))?;
        Ok(Merchant(found))
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        load_user(ctx, self.model.user_id).await
    }

    /// The store the shopper joined at (bound at the first join).
    async fn store(&self, ctx: &Context<'_>) -> Result<Option<Store>> {
        match self.model.store_id {
            Some(id) => {
                let found = loaders::one(ctx, loaders::StoreId(id))
                    .await?
                    .ok_or(AppError::NotFound("store"))?;
                Ok(Some(Store(found)))
            }
            None => Ok(None),
        }
    }

    /// Who referred the shopper (bound at the first join).
    async fn referrer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.model.referrer_id {
            Some(id) => Ok(Some(load_user(ctx, id).await?)),
            None => Ok(None),
        }
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.model.joined_at
    }

    /// The code the shopper shows at the till.
    async fn member_code(&self) -> &str {
        &self.model.member_code
    }

    /// The shopper's personal code: friends who scan it join with this shopper as referrer.
    async fn referral_code(&self, ctx: &Context<'_>) -> Result<QrCode> {
        let code = members::referral_code_of(&ctx.app().db, &self.model).await?;
        Ok(QrCode::of(ctx.app(), &code)?)
    }

    /// How many shoppers joined through this member's code.
    async fn referral_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count =
            members::referral_count(&ctx.app().db, self.model.merchant_id, self.model.user_id)
                .await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// What the shopper holds here.
    async fn wallet(&self) -> crate::graphql::wallet::types::Wallet {
        crate::graphql::wallet::types::Wallet {
            merchant_id: self.model.merchant_id,
            user_id: self.model.user_id,
        }
    }

    /// The shopper's queue entries here, newest first.
    async fn queue_entries(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::queue::types::QueueEntry>> {
        let key = loaders::EntriesOfMember {
            merchant_id: self.model.merchant_id,
            user_id: self.model.user_id,
        };
        let entries = loaders::one(ctx, key).await?.unwrap_or_default();
        Ok(entries
            .into_iter()
            .map(crate::graphql::queue::types::QueueEntry::from)
            .collect())
    }

    /// The shopper's withdrawals here, newest first.
    async fn withdrawals(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::wallet::types::Withdrawal>> {
        let rows = crate::services::withdrawals::withdrawals_of_member(
            &ctx.app().db,
            self.model.merchant_id,
            self.model.user_id,
        )
        .await?;
        Ok(rows
            .into_iter()
            .map(crate::graphql::wallet::types::Withdrawal)
            .collect())
    }

    /// `true` only in the answer to the `joinByScene` that created this membership; a later
    /// scan answers `false` and changed nothing.
    async fn just_joined(&self) -> bool {
        self.just_joined
    }
}
