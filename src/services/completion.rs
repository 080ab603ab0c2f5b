//! What happens when an order completes: every enabled reward program settles it, inside
//! the completion's transaction, which holds the merchant's queue lock.

use chrono::{DateTime, Utc};
use entity::{order, queue_state};
use sea_orm::ConnectionTrait;

use super::{points, programs::Versioned, queue, value_added};
use crate::{
    error::AppResult,
    rules::{money::Unit, rebate},
};

pub async fn settle(
    tx: &impl ConnectionTrait,
    programs: &Versioned,
    queue_state: &queue_state::Model,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let cash_base = Unit::Cny.from_minor(order.cash_paid);
    // A paused queue makes no budget and takes no entries; those queued keep their place.
    if let Some(rules) = programs.set.queue.as_ref().filter(|q| q.enabled) {
        queue::settle(tx, rules, queue_state, order, now).await?;
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
    Ok(())
}
