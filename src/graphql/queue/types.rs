use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::queue_entry;
use rust_decimal::Decimal;

use crate::{error::AppError, graphql::loaders};
use crate::{
    graphql::{context::ContextExt, orders::types::Order, orders::types::RewardKind},
    rules::{money::Unit, programs::QueueRules},
    services::queue,
};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum QueueStatus {
    Waiting,
    Active,
    Completed,
}

/// An entry, with its standing when a live event already told it (subscriptions push
/// positions without a database read per subscriber).
pub struct QueueEntry(
    pub queue_entry::Model,
    pub Option<Known>,
    /// The standing, read once per entry however many fields need it.
    tokio::sync::OnceCell<queue::Standing>,
);

#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub standing: queue::Standing,
    pub seconds_per_completion: Option<f64>,
}

impl QueueEntry {
    /// An entry whose standing a live event already gave.
    pub fn known(model: queue_entry::Model, known: Known) -> Self {
        Self(model, Some(known), tokio::sync::OnceCell::new())
    }
}

impl From<queue_entry::Model> for QueueEntry {
    fn from(model: queue_entry::Model) -> Self {
        Self(model, None, tokio::sync::OnceCell::new())
    }
}

/// The active-slot count the queue runs with (the last configured, even while paused).
pub async fn slots(ctx: &Context<'_>, merchant_id: i64) -> Result<i32> {
    let current = loaders::one(ctx, loaders::ProgramsOf(merchant_id))
        .await?
        .unwrap_or_default();
    Ok(current.set.queue.map_or(3, |q: QueueRules| q.active_slots))
}

impl QueueEntry {
    async fn standing(&self, ctx: &Context<'_>) -> Result<queue::Standing> {
        if let Some(known) = self.1 {
            return Ok(known.standing);
        }
        let standing = self
            .2
            .get_or_try_init(|| async {
                if self.0.status == queue::COMPLETED {
                    return Ok::<_, async_graphql::Error>(queue::Standing::Completed);
                }
                let key = loaders::QueueHeadOf {
                    merchant_id: self.0.merchant_id,
                    slots: slots(ctx, self.0.merchant_id).await?,
                };
                let head = loaders::one(ctx, key)
                    .await?
                    .ok_or(AppError::NotFound("queue"))?;
                Ok(head.standing_of(&self.0))
            })
            .await?;
        Ok(*standing)
    }
}

#[Object]
impl QueueEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn order(&self, ctx: &Context<'_>) -> Result<Order> {
        let found = loaders::one(ctx, loaders::OrderId(self.0.order_id))
            .await?
            .filter(|o| o.merchant_id == self.0.merchant_id)
            .ok_or(AppError::NotFound("order"))?;
        Ok(Order(found))
    }

    async fn status(&self, ctx: &Context<'_>) -> Result<QueueStatus> {
        Ok(match self.standing(ctx).await? {
            queue::Standing::Active { .. } => QueueStatus::Active,
            queue::Standing::Waiting { .. } => QueueStatus::Waiting,
            queue::Standing::Completed => QueueStatus::Completed,
        })
    }

    /// 1-based rank among the live entries (the active ones are 1..N); `null` once completed.
    async fn position(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        Ok(match self.standing(ctx).await? {
            queue::Standing::Active { position } | queue::Standing::Waiting { position } => {
                Some(i32::try_from(position).unwrap_or(i32::MAX))
            }
            queue::Standing::Completed => None,
        })
    }

    /// What the entry is paid back in all: its order's cash × capMultiple.
    async fn target(&self) -> Decimal {
        Unit::Cny.from_minor(self.0.target)
    }

    async fn received(&self) -> Decimal {
        Unit::Cny.from_minor(self.0.received)
    }

    /// Seconds until the entry is likely complete, from how fast entries have completed
    /// lately (position × recent seconds per completion); `null` with no basis or once done.
    async fn eta_seconds(&self, ctx: &Context<'_>) -> Result<Option<i32>> {
        let position = match self.standing(ctx).await? {
            queue::Standing::Active { position } | queue::Standing::Waiting { position } => {
                position
            }
            queue::Standing::Completed => return Ok(None),
        };
        let pace = match self.1 {
            Some(known) => known.seconds_per_completion,
            None => {
                let key = loaders::PaceOf {
                    merchant_id: self.0.merchant_id,
                    at: ctx.now(),
                };
                loaders::one(ctx, key).await?.flatten()
            }
        };
        Ok(pace.map(|seconds| (seconds * position as f64).ceil().min(i32::MAX as f64) as i32))
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
}

#[derive(SimpleObject)]
pub struct QueueStats {
    pub waiting: i32,
    pub active: i32,
    pub completed: i32,
    pub pool: Decimal,
}

#[derive(InputObject)]
pub struct SimulatedOrderInput {
    pub user: String,
    pub amount: Decimal,
    pub referrer: Option<String>,
}

#[derive(SimpleObject)]
pub struct SimulatedPayout {
    /// 1-based index of the order whose completion paid it.
    pub order: i32,
    /// Who received it (`pool` for what was carried to the pool).
    pub user: String,
    pub kind: RewardKind,
    pub amount: Decimal,
}

#[derive(SimpleObject)]
pub struct QueueSimulation {
    pub payouts: Vec<SimulatedPayout>,
    pub pool: Decimal,
    pub completed_orders: i32,
    pub waiting_orders: i32,
    pub total_paid: Decimal,
    pub payout_ratio: Decimal,
}
