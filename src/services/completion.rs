//! What happens when an order completes: every enabled reward program settles it, inside
//! the completion's transaction, which holds the merchant's queue lock.

use chrono::{DateTime, Utc};
use entity::{order, queue_state};
use sea_orm::{ConnectionTrait, EntityTrait};

use super::{points, programs::Versioned, queue, value_added};
use crate::{
    error::AppResult,
    live::{outbox, EventKind, QueueSnapshot},
    rules::{money::Unit, rebate},
};

pub async fn settle(
    tx: &impl ConnectionTrait,
    programs: &Versioned,
    queue_state: &queue_state::Model,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let cash_base = Unit::Cny.from_minor(super::orders::reward_base(order));
    let mut wallets = vec![order.user_id];
    let mut snapshot = None;
    // A paused queue makes no budget and takes no entries; those queued keep their place.
    if let Some(rules) = programs.set.queue.as_ref().filter(|q| q.enabled) {
        if let Some(outcome) = queue::settle(tx, rules, queue_state, order, now).await? {
            wallets.extend(&outcome.credited);
            snapshot = Some(
                queue_snapshot(tx, order.merchant_id, rules.active_slots, outcome, now).await?,
            );
        }
    }
    // A paused value-added program mints nothing; selling stays open.
    if let Some(rules) = programs.set.value_added.as_ref().filter(|v| v.enabled) {
        value_added::settle_mint(tx, rules, order, now).await?;
    }
    if let Some(rules) = programs.set.active_rebate() {
        let earned = rebate::points_earned(cash_base, rules);
        points::earn(
            tx,
            order.merchant_id,
            order.user_id,
            order.id,
            earned,
            rules,
            now,
        )
        .await?;
    }
    wallets.sort_unstable();
    wallets.dedup();
    let kind = EventKind::OrderCompleted {
        order_id: order.id,
        user_id: order.user_id,
        amount: Unit::Cny.from_minor(order.amount),
    };
    outbox::emit(tx, order.merchant_id, kind, wallets, snapshot, now).await
}

/// The queue as subscribers need it after this completion: the active head (N rows), the
/// completed count and what changed.
async fn queue_snapshot(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    slots: i32,
    outcome: queue::SettleOutcome,
    now: DateTime<Utc>,
) -> AppResult<QueueSnapshot> {
    let head = queue::active_entries(tx, merchant_id, slots).await?;
    let completed_count = queue_state::Entity::find_by_id(merchant_id)
        .one(tx)
        .await?
        .map_or(0, |s| s.completed_count);
    Ok(QueueSnapshot {
        completed_count,
        active: head.iter().map(|e| (e.id, e.received)).collect(),
        changed: outcome.changed,
        joined: outcome.joined,
        seconds_per_completion: queue::seconds_per_completion(tx, merchant_id, now).await?,
    })
}
