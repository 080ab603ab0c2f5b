//! The Redis backend, for several instances. Per merchant a sorted set of live entries by
//! ordinal (`ZRANK` in O(log n)) and the queue's counters, under keys that carry the merchant
//! as a hash tag (`{m:<id>}`) so a Redis Cluster shards by merchant; one pub/sub channel for
//! events, read by one connection per process and fanned out locally. Redis is a cache:
//! PostgreSQL is the truth, and the sets are rebuilt from it at start and whenever Redis
//! lost them (flushed or restarted); local subscribers are then told to re-read.

use std::{sync::Arc, time::Duration};

use entity::{queue_entry, queue_state};
use futures::StreamExt;
use redis::{aio::ConnectionManager, AsyncCommands};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast;

use super::{LiveBackend, LiveEvent, LiveSignal};

pub struct RedisLive {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl RedisLive {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client.clone()).await?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_owned(),
        })
    }

    fn live_key(&self, merchant_id: i64) -> String {
        format!("{}:{{m:{merchant_id}}}:live", self.prefix)
    }

    fn counter_key(&self, merchant_id: i64, name: &str) -> String {
        format!("{}:{{m:{merchant_id}}}:{name}", self.prefix)
    }

    fn channel(&self) -> String {
        format!("{}:events", self.prefix)
    }

    fn marker(&self) -> String {
        format!("{}:epoch", self.prefix)
    }

    /// Rebuilds every merchant's sorted set and counters from the database.
    pub async fn rebuild(&self, db: &DatabaseConnection) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        for state in queue_state::Entity::find().all(db).await? {
            let key = self.live_key(state.merchant_id);
            let _: () = conn.del(&key).await?;
            let mut after = 0i64;
            loop {
                let chunk: Vec<(i64, i64)> = queue_entry::Entity::find()
                    .select_only()
                    .column(queue_entry::Column::Id)
                    .column(queue_entry::Column::Ordinal)
                    .filter(queue_entry::Column::MerchantId.eq(state.merchant_id))
                    .filter(queue_entry::Column::Status.eq(crate::services::queue::LIVE))
                    .filter(queue_entry::Column::Ordinal.gt(after))
                    .order_by_asc(queue_entry::Column::Ordinal)
                    .limit(10_000)
                    .into_tuple()
                    .all(db)
                    .await?;
                let Some(last) = chunk.last() else { break };
                after = last.1;
                let members: Vec<(i64, i64)> =
                    chunk.iter().map(|(id, ordinal)| (*ordinal, *id)).collect();
                let _: () = conn.zadd_multiple(&key, &members).await?;
            }
            let _: () = redis::pipe()
                .set(
                    self.counter_key(state.merchant_id, "completed"),
                    state.completed_count,
                )
                .set(self.counter_key(state.merchant_id, "seq"), state.event_seq)
                .query_async(&mut conn)
                .await?;
        }
        let _: () = conn
            .set(self.marker(), chrono::Utc::now().to_rfc3339())
            .await?;
        tracing::info!("live queue state rebuilt in Redis from the database");
        Ok(())
    }

    /// Starts the process's one pub/sub reader and the watchdog that rebuilds after a flush
    /// or a restart.
    pub fn start(self: &Arc<Self>, db: DatabaseConnection, signals: broadcast::Sender<LiveSignal>) {
        let this = self.clone();
        let reader_signals = signals.clone();
        let reader_db = db.clone();
        tokio::spawn(async move {
            loop {
                match this.client.get_async_pubsub().await {
                    Ok(mut pubsub) => {
                        if pubsub.subscribe(this.channel()).await.is_ok() {
                            // Whatever happened while we were away, start from the truth.
                            if let Err(err) = this.ensure_built(&reader_db).await {
                                tracing::warn!(error = %err, "rebuilding live state failed");
                            }
                            let _ = reader_signals.send(LiveSignal::Resync);
                            let mut messages = pubsub.on_message();
                            while let Some(message) = messages.next().await {
                                let Ok(payload) = message.get_payload::<String>() else {
                                    continue;
                                };
                                match serde_json::from_str::<LiveEvent>(&payload) {
                                    Ok(event) => {
                                        let _ =
                                            reader_signals.send(LiveSignal::Event(Arc::new(event)));
                                    }
                                    Err(err) => {
                                        tracing::warn!(error = %err, "unreadable live event")
                                    }
                                }
                            }
                        }
                        tracing::warn!("Redis pub/sub connection lost; reconnecting");
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot reach Redis for pub/sub"),
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let mut conn = this.conn.clone();
                match conn.exists::<_, bool>(this.marker()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(
                            "Redis lost the live state (flushed or restarted); rebuilding"
                        );
                        if this.rebuild(&db).await.is_ok() {
                            let _ = signals.send(LiveSignal::Resync);
                        }
                    }
                    Err(_) => {} // unreachable for now: the reader reconnects and rebuilds
                }
            }
        });
    }

    async fn ensure_built(&self, db: &DatabaseConnection) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        if !conn.exists::<_, bool>(self.marker()).await? {
            self.rebuild(db).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl LiveBackend for RedisLive {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, event: &LiveEvent) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        if let Some(queue) = &event.queue {
            let key = self.live_key(event.merchant_id);
            if let Some((id, ordinal)) = queue.joined {
                pipe.zadd(&key, id, ordinal).ignore();
            }
            for (id, _, completed) in &queue.changed {
                if *completed {
                    pipe.zrem(&key, id).ignore();
                }
            }
            pipe.set(
                self.counter_key(event.merchant_id, "completed"),
                queue.completed_count,
            )
            .ignore();
        }
        pipe.set(self.counter_key(event.merchant_id, "seq"), event.seq)
            .ignore();
        pipe.publish(self.channel(), serde_json::to_string(event)?)
            .ignore();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    async fn health(&self) -> anyhow::Result<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    async fn rank(&self, merchant_id: i64, entry_id: i64) -> Option<i64> {
        let mut conn = self.conn.clone();
        if !conn.exists::<_, bool>(self.marker()).await.ok()? {
            return None;
        }
        conn.zrank(self.live_key(merchant_id), entry_id)
            .await
            .ok()
            .flatten()
    }
}
