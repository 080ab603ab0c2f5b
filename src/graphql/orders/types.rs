use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::order;
use rust_decimal::Decimal;

use crate::{error::AppError, graphql::loaders};
use crate::{
    graphql::{account::types::User, membership::types::load_user, merchant::types::Store},
    rules::money,
};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OrderStatus {
    Paid,
    Completed,
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "PAID",
            Self::Completed => "COMPLETED",
            Self::Refunded => "REFUNDED",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "COMPLETED" => Self::Completed,
            "REFUNDED" => Self::Refunded,
            _ => Self::Paid,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Cny,
    Points,
    VaPoints,
}

impl From<money::Unit> for Unit {
    fn from(u: money::Unit) -> Self {
        match u {
            money::Unit::Cny => Self::Cny,
            money::Unit::Points => Self::Points,
            money::Unit::VaPoints => Self::VaPoints,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RewardKind {
    QueueShare,
    Referral,
    ReferralSecondLevel,
    PoolCarry,
    RebatePoints,
    ValueAddedPoints,
    ValueAddedPool,
}

impl RewardKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "QUEUE_SHARE" => Self::QueueShare,
            "REFERRAL" => Self::Referral,
            "REFERRAL_SECOND_LEVEL" => Self::ReferralSecondLevel,
            "POOL_CARRY" => Self::PoolCarry,
            "REBATE_POINTS" => Self::RebatePoints,
            "VALUE_ADDED_POINTS" => Self::ValueAddedPoints,
            "VALUE_ADDED_POOL" => Self::ValueAddedPool,
            _ => return None,
        })
    }
}

#[derive(InputObject)]
pub struct RecordOrderInput {
    pub store_id: ID,
    pub user_id: Option<ID>,
    pub member_code: Option<String>,
    pub amount: Decimal,
    pub points_to_use: Option<i32>,
    pub idempotency_key: String,
    pub complete: Option<bool>,
}

pub struct Order(pub order::Model);

/// A reward an order's completion made.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Reward {
    pub kind: RewardKind,
    #[graphql(skip)]
    pub beneficiary_id: Option<i64>,
    pub amount: Decimal,
    pub unit: Unit,
}

#[async_graphql::ComplexObject]
impl Reward {
    /// The shopper credited; `null` for the queue's pool.
    async fn beneficiary(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.beneficiary_id {
            Some(id) => Ok(Some(load_user(ctx, id).await?)),
            None => Ok(None),
        }
    }
}

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn status(&self) -> OrderStatus {
        OrderStatus::parse(&self.0.status)
    }

    async fn amount(&self) -> Decimal {
        money::Unit::Cny.from_minor(self.0.amount)
    }

    /// The amount less the value of the points used: the base of every reward.
    async fn cash_paid(&self) -> Decimal {
        money::Unit::Cny.from_minor(self.0.cash_paid)
    }

    async fn points_used(&self) -> i32 {
        i32::try_from(self.0.points_used).unwrap_or(i32::MAX)
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        load_user(ctx, self.0.user_id).await
    }

    async fn store(&self, ctx: &Context<'_>) -> Result<Store> {
        let found = loaders::one(ctx, loaders::StoreId(self.0.store_id))
            .await?
            .ok_or(AppError::NotFound("store"))?;
        Ok(Store(found))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    async fn refunded_at(&self) -> Option<DateTime<Utc>> {
        self.0.refunded_at
    }

    /// What WeChat Pay refunds have given back so far.
    async fn refunded_amount(&self) -> Decimal {
        money::Unit::Cny.from_minor(self.0.refunded_amount)
    }

    /// The order's WeChat Pay refunds, oldest first (none for a till order).
    async fn refunds(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::graphql::payments::types::Refund>> {
        let refunds = loaders::one(ctx, loaders::RefundsOfOrder(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(refunds
            .into_iter()
            .map(crate::graphql::payments::types::Refund)
            .collect())
    }

    async fn refund_reason(&self) -> Option<&str> {
        self.0.refund_reason.as_deref()
    }

    /// The program version the completion used.
    async fn program_version(&self) -> Option<i32> {
        self.0.program_version
    }

    async fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }

    /// The order's place in the queue (`null` if it has none).
    async fn queue_entry(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<crate::graphql::queue::types::QueueEntry>> {
        let entry = loaders::one(ctx, loaders::EntryOfOrder(self.0.id)).await?;
        Ok(entry.map(crate::graphql::queue::types::QueueEntry::from))
    }

    /// Every reward the order's completion made.
    async fn rewards(&self, ctx: &Context<'_>) -> Result<Vec<Reward>> {
        let rewards = loaders::one(ctx, loaders::RewardsOfOrder(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rewards
            .into_iter()
            .filter_map(|r| {
                Some(Reward {
                    kind: RewardKind::parse(&r.kind)?,
                    beneficiary_id: r.beneficiary,
                    amount: r.amount,
                    unit: r.unit.into(),
                })
            })
            .collect())
    }
}
