//! Work done by the clock: auto-completing orders and expiring points. `run_once` is what
//! the background task calls every interval, and what tests call after moving the clock.

use chrono::{DateTime, Utc};
use entity::point_lot;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};

use super::{orders, points};
use crate::error::{AppError, AppResult};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub orders_completed: usize,
    pub points_expired: i64,
}

pub async fn run_once(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<SweepReport> {
    let orders_completed = orders::auto_complete_due(db, now).await?;
    let merchants: Vec<i64> = point_lot::Entity::find()
        .select_only()
        .column(point_lot::Column::MerchantId)
        .distinct()
        .filter(point_lot::Column::Remaining.gt(0))
        .filter(point_lot::Column::ExpiresAt.lte(now))
        .into_tuple()
        .all(db)
        .await?;
    let mut points_expired = 0;
    for merchant_id in merchants {
        // Each lot's expiry and its postings commit together.
        points_expired += db
            .transaction::<_, _, AppError>(|tx| {
                Box::pin(async move {
                    crate::db::claim_writer(tx).await?;
                    super::queue::lock_merchant(tx, merchant_id, now).await?;
                    let (expired, users) = points::expire_due(tx, merchant_id, None, now).await?;
                    if !users.is_empty() {
                        let kind = crate::live::EventKind::WalletsChanged;
                        crate::live::outbox::emit(tx, merchant_id, kind, users, None, now).await?;
                    }
                    Ok(expired)
                })
            })
            .await?;
    }
    Ok(SweepReport {
        orders_completed,
        points_expired,
    })
}
