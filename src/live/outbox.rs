//! The outbox: events are rows written in the transaction that caused them, so an event is
//! published only for what committed, and none is lost. The relay publishes unpublished rows
//! in order after each commit (and every half second, and at start for rows a crash left).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{live_outbox, queue_state};
use sea_orm::{
    sea_query::{Expr, LockBehavior, LockType},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

use super::{EventKind, LiveEvent, LiveHub, QueueSnapshot};
use crate::error::{AppError, AppResult};

/// Writes an event in the caller's transaction, which must hold the merchant's lock
/// (`queue::lock_merchant`, taken first thing) so sequence numbers are gap-free.
pub async fn emit(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    kind: EventKind,
    wallets: Vec<i64>,
    queue: Option<QueueSnapshot>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    queue_state::Entity::update_many()
        .col_expr(
            queue_state::Column::EventSeq,
            Expr::col(queue_state::Column::EventSeq).add(1),
        )
        .filter(queue_state::Column::MerchantId.eq(merchant_id))
        .exec(tx)
        .await?;
    let seq = queue_state::Entity::find_by_id(merchant_id)
        .one(tx)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("emit without the merchant lock")))?
        .event_seq;
    let event = LiveEvent {
        merchant_id,
        seq,
        at: now,
        kind,
        wallets,
        queue,
    };
    live_outbox::Entity::insert(live_outbox::ActiveModel {
        merchant_id: Set(merchant_id),
        seq: Set(seq),
        payload: Set(serde_json::to_string(&event).map_err(|e| AppError::Internal(e.into()))?),
        created_at: Set(now),
        published_at: Set(None),
        ..Default::default()
    })
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

/// Publishes every unpublished event, oldest first. Several instances may drain at once:
/// PostgreSQL hands each row to one of them (`SKIP LOCKED`); a row published twice after a
/// crash is harmless, since subscribers ignore sequence numbers they have seen.
pub async fn drain(db: &DatabaseConnection, hub: &LiveHub) -> anyhow::Result<usize> {
    let mut published = 0;
    loop {
        let backend = hub.backend.clone();
        let batch = db
            .transaction::<_, usize, AppError>(|tx| {
                Box::pin(async move {
                    crate::db::claim_writer(tx).await?;
                    let rows = live_outbox::Entity::find()
                        .filter(live_outbox::Column::PublishedAt.is_null())
                        .order_by_asc(live_outbox::Column::Id)
                        .limit(200)
                        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                        .all(tx)
                        .await?;
                    let now = Utc::now();
                    for row in &rows {
                        let event: LiveEvent = serde_json::from_str(&row.payload)
                            .map_err(|e| AppError::Internal(e.into()))?;
                        backend.publish(&event).await.map_err(AppError::Internal)?;
                        live_outbox::Entity::update_many()
                            .col_expr(live_outbox::Column::PublishedAt, Expr::value(Some(now)))
                            .filter(live_outbox::Column::Id.eq(row.id))
                            .exec(tx)
                            .await?;
                    }
                    Ok(rows.len())
                })
            })
            .await
            .map_err(|e| anyhow::anyhow!("{:?}", AppError::from(e)))?;
        published += batch;
        if batch < 200 {
            return Ok(published);
        }
    }
}

/// The relay: drains after every wake-up and every half second.
pub fn spawn_relay(db: DatabaseConnection, hub: LiveHub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(err) = drain(&db, &hub).await {
                tracing::warn!(error = %err, "live relay could not publish; will retry");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            tokio::select! {
                _ = hub.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    })
}
