//! What happens when an order completes: every enabled reward program settles it, inside
//! the completion's transaction. The queue and value-added engines join here.

use chrono::{DateTime, Utc};
use entity::order;
use sea_orm::ConnectionTrait;

use super::{points, programs::Versioned};
use crate::{
    error::AppResult,
    rules::{money::Unit, rebate},
};

pub async fn settle(
    tx: &impl ConnectionTrait,
    programs: &Versioned,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let cash_base = Unit::Cny.from_minor(order.cash_paid);
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
