//! The Redis backend, for several instances. Per merchant a sorted set of live entries by
//! ordinal (`ZRANK` in O(log n)) and the queue's counters, under keys that carry the merchant
//! as a hash tag (`{m:<id>}`) so a Redis Cluster shards by merchant; one pub/sub channel for
//! events, read by one connection per process and fanned out locally. Redis is a cache:
//! PostgreSQL is the truth, and the sets are rebuilt from it at start and whenever Redis
//! lost them (flushed or restarted); local subscribers are then told to re-read.
//!
//! Redis may go away at any time. No command waits for it to come back: while it is gone
//! every command fails within a second (the outbox relay keeps its events and retries), a
//! supervisor probes it with capped backoff and the pub/sub reader reconnects the same way,
//! so an instance is ready and relaying again within about a second of Redis's return. Each
//! of the two logs a warning when Redis goes, a reminder at most every ten seconds while it
//! stays away, and an info line when it is back.

use std::{
    fmt::Display,
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use anyhow::Context;
use entity::{queue_entry, queue_state};
use futures::StreamExt;
use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream},
    AsyncCommands,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::{
    sync::{broadcast, watch, Mutex},
    time::timeout,
};

use super::{LiveBackend, LiveEvent, LiveSignal};

/// A connection attempt gives up after this long (a host that does not answer).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A command gives up after this long (a connection that died without being closed).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the supervisor checks Redis while it answers.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How often the pub/sub connection, otherwise only read, is checked with a `PING`.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Reconnection attempts start this soon after a failure and back off to at most this.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// While Redis stays unreachable, each loop reminds the log at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a readiness check waits for the pub/sub reader to (re)subscribe.
const SUBSCRIBED_WAIT: Duration = Duration::from_millis(500);

/// The manager's own reconnection retries make every command wait for their whole schedule,
/// and redis-rs 0.32 spaces them 1 s, then 60 s and more (its `factor` multiplies backon's
/// 1 s minimum delay, capped at 60 s): the 114 s outages of issue 11. Here a reconnection
/// is one attempt; the next command or the supervisor's next probe makes the next one.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT)
}

pub struct RedisLive {
    client: redis::Client,
    /// Replaced when commands time out on a connection that died without being closed.
    conn: RwLock<ConnectionManager>,
    prefix: String,
    /// Whether the pub/sub reader is subscribed: until it is, this instance hears no events.
    subscribed: watch::Sender<bool>,
    /// One rebuild at a time in this process.
    rebuilding: Mutex<()>,
}

impl RedisLive {
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config())
            .await
            .context("connecting to Redis (REDIS_URL)")?;
        Ok(Self {
            client,
            conn: RwLock::new(conn),
            prefix: prefix.to_owned(),
            subscribed: watch::channel(false).0,
            rebuilding: Mutex::new(()),
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
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
        let _one_at_a_time = self.rebuilding.lock().await;
        self.rebuild_now(db).await
    }

    /// Rebuilds if Redis lost the live state (its marker is gone); returns whether it did.
    async fn rebuild_if_lost(&self, db: &DatabaseConnection) -> anyhow::Result<bool> {
        let _one_at_a_time = self.rebuilding.lock().await;
        if self.conn().exists::<_, bool>(self.marker()).await? {
            return Ok(false);
        }
        tracing::warn!("Redis lost the live state (flushed or restarted); rebuilding");
        self.rebuild_now(db).await?;
        Ok(true)
    }

    async fn rebuild_now(&self, db: &DatabaseConnection) -> anyhow::Result<()> {
        let mut conn = self.conn();
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

    /// Starts the process's one pub/sub reader and the supervisor that watches Redis and
    /// rebuilds after a flush or a restart.
    pub fn start(self: &Arc<Self>, db: DatabaseConnection, signals: broadcast::Sender<LiveSignal>) {
        tokio::spawn(self.clone().read_events(db.clone(), signals.clone()));
        tokio::spawn(self.clone().supervise(db, signals));
    }

    /// The pub/sub reader: subscribes, tells local subscribers to re-read (events may have
    /// been missed while it was not subscribed), then fans events out until the connection
    /// is lost, and starts again.
    async fn read_events(
        self: Arc<Self>,
        db: DatabaseConnection,
        signals: broadcast::Sender<LiveSignal>,
    ) {
        let mut outage = Outage::new("pub/sub");
        let mut retry = Backoff::new();
        loop {
            let lost = match self.subscribe().await {
                Ok((sink, stream)) => {
                    outage.over();
                    retry.reset();
                    // Start from the truth. Should the commands' connection not be back yet,
                    // the supervisor rebuilds as soon as it is.
                    if let Err(err) = self.rebuild_if_lost(&db).await {
                        tracing::debug!(error = %err, "rebuild left to the supervisor");
                    }
                    let _ = signals.send(LiveSignal::Resync);
                    self.subscribed.send_replace(true);
                    let lost = fan_out(sink, stream, &signals).await;
                    self.subscribed.send_replace(false);
                    lost
                }
                Err(err) => err,
            };
            outage.failed(&lost);
            tokio::time::sleep(retry.next()).await;
        }
    }

    async fn subscribe(&self) -> anyhow::Result<(PubSubSink, PubSubStream)> {
        let pubsub = timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .context("connecting timed out")??;
        let (mut sink, stream) = pubsub.split();
        timeout(RESPONSE_TIMEOUT, sink.subscribe(self.channel()))
            .await
            .context("subscribing timed out")??;
        Ok((sink, stream))
    }

    /// Probes Redis every [`PROBE_EVERY`] (with capped backoff while it is away) and
    /// rebuilds the live state when Redis lost it.
    async fn supervise(
        self: Arc<Self>,
        db: DatabaseConnection,
        signals: broadcast::Sender<LiveSignal>,
    ) {
        let mut outage = Outage::new("commands");
        let mut retry = Backoff::new();
        loop {
            let pause = if outage.is_on() {
                retry.next()
            } else {
                retry.reset();
                PROBE_EVERY
            };
            tokio::time::sleep(pause).await;
            let mut conn = self.conn();
            match timeout(RESPONSE_TIMEOUT, conn.exists::<_, bool>(self.marker())).await {
                Ok(Ok(built)) => {
                    outage.over();
                    if !built {
                        match self.rebuild_if_lost(&db).await {
                            Ok(true) => {
                                let _ = signals.send(LiveSignal::Resync);
                            }
                            Ok(false) => {} // the reader rebuilt meanwhile
                            Err(err) => outage.failed(&format!("rebuilding failed: {err}")),
                        }
                    }
                }
                Ok(Err(err)) if !err.is_timeout() => outage.failed(&err),
                // A connection that died without being closed answers nothing until TCP
                // gives up, minutes later: a new one replaces it as soon as one connects.
                Ok(Err(_)) | Err(_) => {
                    outage.failed(&"no answer in time");
                    self.replace_connection().await;
                }
            }
        }
    }

    async fn replace_connection(&self) {
        let fresh = ConnectionManager::new_with_config(self.client.clone(), manager_config());
        if let Ok(Ok(fresh)) = timeout(RESPONSE_TIMEOUT, fresh).await {
            *self.conn.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        }
    }
}

/// Forwards the pub/sub connection's events to local subscribers until it is lost, checking
/// with a `PING` now and then that it still answers; returns why it stopped.
async fn fan_out(
    mut sink: PubSubSink,
    mut stream: PubSubStream,
    signals: &broadcast::Sender<LiveSignal>,
) -> anyhow::Error {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return anyhow::anyhow!("the pub/sub connection was closed");
                };
                let Ok(payload) = message.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<LiveEvent>(&payload) {
                    Ok(event) => {
                        let _ = signals.send(LiveSignal::Event(Arc::new(event)));
                    }
                    Err(err) => tracing::warn!(error = %err, "unreadable live event"),
                }
            }
            _ = ping.tick() => {
                match timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return err.into(),
                    Err(_) => return anyhow::anyhow!("the pub/sub connection stopped answering"),
                }
            }
        }
    }
}

/// Capped exponential backoff between reconnection attempts.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: RETRY_FIRST }
    }

    fn next(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(RETRY_MAX);
        pause
    }

    fn reset(&mut self) {
        self.next = RETRY_FIRST;
    }
}

/// One loop's view of Redis, logged without flooding: a warning when Redis goes, a
/// reminder at most every [`LOG_EVERY`] while it stays away, an info line when it is back.
struct Outage {
    connection: &'static str,
    since: Option<Instant>,
    attempts: u32,
    logged: Instant,
}

impl Outage {
    fn new(connection: &'static str) -> Self {
        Self {
            connection,
            since: None,
            attempts: 0,
            logged: Instant::now(),
        }
    }

    fn is_on(&self) -> bool {
        self.since.is_some()
    }

    fn failed(&mut self, error: &dyn Display) {
        let now = Instant::now();
        self.attempts = if self.is_on() { self.attempts + 1 } else { 1 };
        match self.since {
            None => {
                self.since = Some(now);
                self.logged = now;
                tracing::warn!(
                    connection = self.connection,
                    error = %error,
                    "Redis unreachable; reconnecting (live events wait in the outbox)"
                );
            }
            Some(since) if now.duration_since(self.logged) >= LOG_EVERY => {
                self.logged = now;
                tracing::warn!(
                    connection = self.connection,
                    error = %error,
                    attempts = self.attempts,
                    down_for = ?now.duration_since(since),
                    "Redis still unreachable; reconnecting"
                );
            }
            Some(_) => {}
        }
    }

    fn over(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(
                connection = self.connection,
                attempts = self.attempts,
                down_for = ?since.elapsed(),
                "Redis is back"
            );
        }
    }
}

#[async_trait::async_trait]
impl LiveBackend for RedisLive {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn publish(&self, event: &LiveEvent) -> anyhow::Result<()> {
        self.publish_many(std::slice::from_ref(event)).await
    }

    /// Every event's queue changes and message in one pipeline, in order.
    async fn publish_many(&self, events: &[LiveEvent]) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for event in events {
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
        }
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Ready when commands are answered and the pub/sub reader is subscribed.
    async fn health(&self) -> anyhow::Result<()> {
        let mut conn = self.conn();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .context("Redis does not answer")?;
        let mut subscribed = self.subscribed.subscribe();
        let waited = timeout(SUBSCRIBED_WAIT, subscribed.wait_for(|s| *s)).await;
        anyhow::ensure!(matches!(waited, Ok(Ok(_))), "not subscribed to live events");
        Ok(())
    }

    async fn rank(&self, merchant_id: i64, entry_id: i64) -> Option<i64> {
        let mut conn = self.conn();
        if !conn.exists::<_, bool>(self.marker()).await.ok()? {
            return None;
        }
        conn.zrank(self.live_key(merchant_id), entry_id)
            .await
            .ok()
            .flatten()
    }
}
