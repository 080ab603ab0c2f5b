use async_graphql::{Context, Object, Result, SimpleObject, ID};
use entity::{merchant, referral_code, store};

use crate::{error::AppError, graphql::context::ContextExt, qr, services::merchants, AppState};

pub struct Merchant(pub merchant::Model);

#[Object]
impl Merchant {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// IANA time zone its days start in (dashboard days, exports, messages).
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// The programs in force (`null` until the merchant configures them); public, so
    /// shoppers see the rules they are under.
    async fn programs(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::programs::types::Programs>> {
        let current = crate::services::programs::current(&ctx.app().db, self.0.id).await?;
        Ok((current.version > 0).then(|| current.into()))
    }

    /// The merchant's staff accounts, disabled ones included (the owner only).
    async fn staff(&self, ctx: &Context<'_>) -> Result<Vec<crate::graphql::account::types::Staff>> {
        ctx.principal()
            .require_staff(self.0.id, crate::auth::StaffRole::Owner)?;
        let staff = merchants::staff_of(&ctx.app().db, self.0.id).await?;
        Ok(staff
            .into_iter()
            .map(crate::graphql::account::types::Staff)
            .collect())
    }

    /// Whether the merchant takes WeChat Pay (the merchant's staff only).
    async fn wechat_pay(
        &self,
        ctx: &Context<'_>,
    ) -> Result<crate::graphql::payments::types::WechatPayStatus> {
        if !ctx.principal().can_see_merchant_internals(self.0.id) {
            return Err(AppError::forbidden("only the merchant's staff see its WeChat Pay").into());
        }
        let account = crate::services::payments::account_row(&ctx.app().db, self.0.id).await?;
        Ok(crate::graphql::payments::types::WechatPayStatus::of(
            account.as_ref(),
        ))
    }

    /// The queue free-order program's counters (the merchant's staff only).
    async fn queue_stats(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::queue::types::QueueStats>> {
        if !ctx.principal().can_see_merchant_internals(self.0.id) {
            return Err(
                AppError::forbidden("only the merchant's staff see queue statistics").into(),
            );
        }
        let slots = crate::graphql::queue::types::slots(ctx, self.0.id).await?;
        let (waiting, active, completed, pool) =
            crate::services::queue::stats(&ctx.app().db, self.0.id, slots).await?;
        let int = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Some(crate::graphql::queue::types::QueueStats {
            waiting: int(waiting),
            active: int(active),
            completed: int(completed),
            pool,
        }))
    }

    /// The value-added program's pool, supply and price (`null` without the program).
    async fn value_added(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::value_added::types::ValueAddedState>> {
        let db = &ctx.app().db;
        let Some(rules) = crate::services::programs::current(db, self.0.id)
            .await?
            .set
            .value_added
        else {
            return Ok(None);
        };
        let pool = crate::services::value_added::pool_of(db, self.0.id).await?;
        Ok(Some(
            crate::graphql::value_added::types::ValueAddedState::of(pool, &rules),
        ))
    }

    /// Staff: `first` live entries of the queue in order (active ones first), after skipping
    /// the first `offset` (a page of the queue: `queueStats` says how many are live).
    async fn queue(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Vec<crate::graphql::queue::types::QueueEntry>> {
        if !ctx.principal().can_see_merchant_internals(self.0.id) {
            return Err(AppError::forbidden("only the merchant's staff see the queue").into());
        }
        if !(1..=500).contains(&first) {
            return Err(AppError::invalid("first must be between 1 and 500").into());
        }
        if offset < 0 {
            return Err(AppError::invalid("offset must not be negative").into());
        }
        let entries =
            crate::services::queue::live_entries_page(&ctx.app().db, self.0.id, offset, first)
                .await?;
        Ok(entries
            .into_iter()
            .map(crate::graphql::queue::types::QueueEntry::from)
            .collect())
    }

    async fn stores(&self, ctx: &Context<'_>) -> Result<Vec<Store>> {
        let stores = merchants::stores_of(&ctx.app().db, self.0.id).await?;
        Ok(stores.into_iter().map(Store).collect())
    }
}

pub struct Store(pub store::Model);

#[Object]
impl Store {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether an order paid through WeChat Pay here completes at once (in-store
    /// consumption) or waits for `autoCompleteDays`.
    async fn complete_on_payment(&self) -> bool {
        self.0.complete_on_payment
    }

    /// The store's own code to print at the counter (the merchant's staff only).
    async fn qr_code(&self, ctx: &Context<'_>) -> Result<QrCode> {
        if !ctx
            .principal()
            .can_see_merchant_internals(self.0.merchant_id)
        {
            return Err(
                AppError::forbidden("only the merchant's staff may print store codes").into(),
            );
        }
        let code = merchants::store_code(&ctx.app().db, self.0.id).await?;
        Ok(QrCode::of(ctx.app(), &code)?)
    }
}

/// A scannable code: `scene` for the mini-program code (WeChat's `getUnlimited` takes scene
/// and page), `svg` a QR code of the same scene as a link for any phone camera.
#[derive(SimpleObject)]
pub struct QrCode {
    pub scene: String,
    pub page: String,
    pub svg: String,
}

impl QrCode {
    pub fn of(app: &AppState, code: &referral_code::Model) -> Result<Self, AppError> {
        let link = qr::join_link(&app.config.public_url, &code.scene);
        Ok(Self {
            scene: code.scene.clone(),
            page: qr::JOIN_PAGE.into(),
            svg: qr::svg(&link)?,
        })
    }
}
