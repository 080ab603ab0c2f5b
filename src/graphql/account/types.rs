use async_graphql::{ComplexObject, Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{api_key, staff, user};

use crate::graphql::loaders;
use crate::{
    auth::{Principal, StaffRole},
    graphql::{context::ContextExt, membership::types::Membership, merchant::types::Merchant},
};

/// A shopper.
pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn nickname(&self) -> Option<&str> {
        self.0.nickname.as_deref()
    }

    /// The subscribe messages she may still be sent, per event (herself or the platform).
    async fn notification_quota(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::notifications::types::NotificationQuota>> {
        let principal = ctx.principal();
        let own = matches!(principal, Principal::Shopper { user_id } if user_id == self.0.id);
        if !own && !matches!(principal, Principal::Admin { .. }) {
            return Ok(Vec::new());
        }
        let quota = crate::services::notifications::quota(&ctx.app().db, self.0.id).await?;
        Ok(quota
            .into_iter()
            .map(|(event, template_id, remaining)| {
                crate::graphql::notifications::types::NotificationQuota {
                    event,
                    template_id,
                    remaining,
                }
            })
            .collect())
    }

    /// The shopper's memberships. The shopper sees all of them; a merchant's staff only the
    /// one at their merchant; anybody else none.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let all = loaders::one(ctx, loaders::MembershipsOfUser(self.0.id))
            .await?
            .unwrap_or_default();
        let visible = match ctx.principal() {
            Principal::Shopper { user_id } if user_id == self.0.id => all,
            Principal::Admin { .. } => all,
            Principal::Staff { merchant_id, .. } => all
                .into_iter()
                .filter(|m| m.merchant_id == merchant_id)
                .collect(),
            _ => Vec::new(),
        };
        Ok(visible.into_iter().map(Membership::from).collect())
    }
}

/// A merchant's staff account.
pub struct Staff(pub staff::Model);

#[Object]
impl Staff {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn username(&self) -> &str {
        &self.0.username
    }

    async fn role(&self) -> StaffRole {
        StaffRole::parse(&self.0.role).unwrap_or(StaffRole::Cashier)
    }

    /// A disabled account cannot log in, and its tokens are refused.
    async fn disabled(&self) -> bool {
        self.0.disabled
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn merchant(&self, ctx: &Context<'_>) -> Result<Option<Merchant>> {
        let found = loaders::one(ctx, loaders::MerchantId(self.0.merchant_id)).await?;
        Ok(found.map(Merchant))
    }
}

/// A token and who it is for (`user` for a shopper, `staff` for staff; neither for the
/// platform administrator).
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AuthPayload {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    #[graphql(skip)]
    pub user: Option<user::Model>,
    #[graphql(skip)]
    pub staff: Option<staff::Model>,
}

#[ComplexObject]
impl AuthPayload {
    async fn user(&self) -> Option<User> {
        self.user.clone().map(User)
    }

    async fn staff(&self) -> Option<Staff> {
        self.staff.clone().map(Staff)
    }
}

/// A merchant's key for a system (a POS, a mall, a script), acting as staff with `role`.
pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn role(&self) -> StaffRole {
        StaffRole::parse(&self.0.role).unwrap_or(StaffRole::Cashier)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Within a minute or so: when the key last made a request.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When the key was revoked; a revoked key is refused.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A new API key and its secret, which is shown this once and never again.
#[derive(SimpleObject)]
pub struct ApiKeyWithSecret {
    pub api_key: ApiKey,
    /// What the system sends: `Authorization: Bearer <secret>` (`fhk_<id>_<64 hex digits>`).
    pub secret: String,
}
