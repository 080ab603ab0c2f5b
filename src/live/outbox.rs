//! The outbox: events are rows written in the transaction that caused them, so an event is
//! published only for what committed, and none is lost. The relay publishes unpublished rows
//! in order after each commit (and every half second, and at start for rows a crash left).

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{live_outbox, queue_state};
use sea_orm::{
    sea_query::{Expr, LockType, Order, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
    TransactionTrait,
};
use serde::Serialize;

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
    insert_many(tx, std::slice::from_ref(&event)).await
}

/// Writes events whose sequence numbers the caller took (it holds the merchant's lock and
/// moved `event_seq` past them): one statement for all of them.
pub async fn insert_many(tx: &impl ConnectionTrait, events: &[LiveEvent]) -> AppResult<()> {
    if let Some(insert) = insert_rows(events)? {
        insert.exec_without_returning(tx).await?;
    }
    Ok(())
}

/// [`insert_many`] as a PostgreSQL statement to send with others, its rows as one JSON
/// parameter (`db::with_json_rows`): the same text for any number of events.
pub fn insert_statement(events: &[LiveEvent]) -> AppResult<Statement> {
    let rows = events
        .iter()
        .map(|event| {
            Ok(OutboxRow {
                merchant_id: event.merchant_id,
                seq: event.seq,
                payload: payload(event)?,
                created_at: event.at,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(crate::db::with_json_rows(INSERT_FROM_JSON, &rows)?)
}

fn payload(event: &LiveEvent) -> AppResult<String> {
    serde_json::to_string(event).map_err(|e| AppError::Internal(e.into()))
}

#[derive(Serialize)]
struct OutboxRow {
    merchant_id: i64,
    seq: i64,
    payload: String,
    created_at: DateTime<Utc>,
}

/// Rows in the array's order, so ids follow the events' sequence numbers.
const INSERT_FROM_JSON: &str = "INSERT INTO live_outbox (merchant_id, seq, payload, created_at) \
    SELECT merchant_id, seq, payload, created_at \
    FROM json_to_recordset($1::json) AS r(merchant_id bigint, seq bigint, payload text, \
    created_at timestamptz)";

fn insert_rows(
    events: &[LiveEvent],
) -> AppResult<Option<sea_orm::Insert<live_outbox::ActiveModel>>> {
    if events.is_empty() {
        return Ok(None);
    }
    let rows = events
        .iter()
        .map(|event| {
            Ok(live_outbox::ActiveModel {
                merchant_id: Set(event.merchant_id),
                seq: Set(event.seq),
                payload: Set(payload(event)?),
                created_at: Set(event.at),
                published_at: Set(None),
                ..Default::default()
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Some(live_outbox::Entity::insert_many(rows)))
}

/// Publishes every unpublished event, oldest first. Several instances may drain at once: a
/// relay waits for rows another transaction holds (another instance's relay, or the
/// subscribe-message planner marking what it read) and then takes those still unpublished,
/// so events always leave in their order. (Skipping held rows published later events
/// first: every subscriber saw a gap and re-read its state from the database at once.) A
/// row published twice after a crash is harmless, since subscribers ignore sequence numbers
/// they have seen.
pub async fn drain(db: &DatabaseConnection, hub: &LiveHub) -> anyhow::Result<usize> {
    let mut published = 0;
    loop {
        let backend = hub.backend.clone();
        let batch = db
            .transaction::<_, usize, AppError>(|tx| {
                Box::pin(async move {
                    crate::db::claim_writer(tx).await?;
                    crate::db::scan_waiting_in_order(tx).await?;
                    // Claimed and marked in one statement; if publishing fails, the
                    // transaction rolls back and they stay unpublished.
                    let unpublished = Query::select()
                        .column(live_outbox::Column::Id)
                        .from(live_outbox::Entity)
                        .and_where(live_outbox::Column::PublishedAt.is_null())
                        .order_by(live_outbox::Column::Id, Order::Asc)
                        .limit(200)
                        .lock(LockType::Update)
                        .to_owned();
                    let mut rows = live_outbox::Entity::update_many()
                        .col_expr(
                            live_outbox::Column::PublishedAt,
                            Expr::value(Some(Utc::now())),
                        )
                        .filter(live_outbox::Column::Id.in_subquery(unpublished))
                        .exec_with_returning(tx)
                        .await?;
                    rows.sort_unstable_by_key(|row| row.id);
                    if rows.is_empty() {
                        return Ok(0);
                    }
                    let events = rows
                        .iter()
                        .map(|row| serde_json::from_str::<LiveEvent>(&row.payload))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| AppError::Internal(e.into()))?;
                    backend
                        .publish_many(&events)
                        .await
                        .map_err(AppError::Internal)?;
                    Ok(rows.len())
                })
            })
            .await
            .map_err(|e| anyhow::anyhow!("{}", AppError::from(e).detail()))?;
        published += batch;
        if batch < 200 {
            return Ok(published);
        }
    }
}

/// How often a relay that keeps failing says so again.
const FAILING_REMINDER: Duration = Duration::from_secs(10);

/// The relay: drains after every wake-up and every half second. While publishing fails (the
/// live backend or the database is away) events wait in the outbox; the relay warns when it
/// starts failing, reminds at most every ten seconds, and says when it publishes again.
pub fn spawn_relay(db: DatabaseConnection, hub: LiveHub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing_since: Option<std::time::Instant> = None;
        let mut last_warning = std::time::Instant::now();
        loop {
            match drain(&db, &hub).await {
                Ok(_) => {
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            after_secs = since.elapsed().as_secs(),
                            "live relay publishes again"
                        );
                    }
                }
                Err(err) => {
                    let now = std::time::Instant::now();
                    let first = failing_since.is_none();
                    if first || now - last_warning >= FAILING_REMINDER {
                        let since = *failing_since.get_or_insert(now);
                        tracing::warn!(
                            error = %err,
                            failing_secs = (now - since).as_secs(),
                            "live relay could not publish; events wait in the outbox"
                        );
                        last_warning = now;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            tokio::select! {
                _ = hub.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    })
}
