use async_graphql::{ComplexObject, Context, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::{
        account::types::User,
        context::{ContextExt, Guard},
        membership::types::load_user,
    },
    services::{dashboard, merchants, parse_id},
};

#[derive(SimpleObject)]
pub struct DailyStats {
    /// `YYYY-MM-DD`: the day in the merchant's time zone.
    pub day: String,
    pub gmv: Decimal,
    pub orders: i32,
    pub new_members: i32,
    pub rewards: Decimal,
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ReferrerStats {
    #[graphql(skip)]
    pub user_id: i64,
    /// Members who joined through this shopper in the range.
    pub referred: i32,
    /// Referral rewards paid to this shopper in the range.
    pub rewards: Decimal,
}

#[ComplexObject]
impl ReferrerStats {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        load_user(ctx, self.user_id).await
    }
}

/// A merchant's business over a range (see `services::dashboard` for each figure's meaning).
#[derive(SimpleObject)]
pub struct Dashboard {
    pub gmv: Decimal,
    pub orders: i32,
    pub new_members: i32,
    pub referred_members: i32,
    pub queue_rewards: Decimal,
    pub referral_rewards: Decimal,
    pub points_issued: i32,
    pub points_redeemed: i32,
    pub points_expired: i32,
    /// (queue + referral rewards) ÷ GMV.
    pub payout_ratio: Decimal,
    /// Cash owed to shoppers now, held withdrawals included.
    pub liabilities: Decimal,
    pub daily: Vec<DailyStats>,
    pub top_referrers: Vec<ReferrerStats>,
}

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[derive(Default)]
pub struct DashboardQuery;

#[Object]
impl DashboardQuery {
    /// Owner or manager: the merchant's figures between `from` (inclusive) and `to` (exclusive),
    /// optionally for one store.
    async fn dashboard(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        store_id: Option<ID>,
    ) -> Result<Dashboard> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Manager)?;
        let db = &ctx.app().db;
        let store_id = match store_id {
            Some(id) => {
                let store = merchants::find_store(db, parse_id(&id, "store")?).await?;
                if store.merchant_id != merchant_id {
                    return Err(AppError::NotFound("store").into());
                }
                Some(store.id)
            }
            None => None,
        };
        let zone = merchants::zone_of(&merchants::find_merchant(db, merchant_id).await?);
        let d = dashboard::dashboard(db, merchant_id, zone, from, to, store_id).await?;
        Ok(Dashboard {
            gmv: d.gmv,
            orders: int(d.orders),
            new_members: int(d.new_members),
            referred_members: int(d.referred_members),
            queue_rewards: d.queue_rewards,
            referral_rewards: d.referral_rewards,
            points_issued: int(d.points_issued),
            points_redeemed: int(d.points_redeemed),
            points_expired: int(d.points_expired),
            payout_ratio: d.payout_ratio,
            liabilities: d.liabilities,
            daily: d
                .daily
                .into_iter()
                .map(|day| DailyStats {
                    day: day.day.format("%Y-%m-%d").to_string(),
                    gmv: day.gmv,
                    orders: int(day.orders),
                    new_members: int(day.new_members),
                    rewards: day.rewards,
                })
                .collect(),
            top_referrers: d
                .top_referrers
                .into_iter()
                .map(|r| ReferrerStats {
                    user_id: r.user_id,
                    referred: int(r.referred),
                    rewards: r.rewards,
                })
                .collect(),
        })
    }
}
