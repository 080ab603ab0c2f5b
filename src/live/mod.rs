//! Live queue positions and events: one trait, an in-process backend for one instance and a
//! Redis backend for several. Events are written to an outbox in the transaction that caused
//! them and relayed after commit ([`outbox`]); each process fans them out to its local
//! subscribers through one `tokio::sync::broadcast` channel.

pub mod memory;
pub mod outbox;
pub mod redis;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, Notify};

/// The state of a merchant's queue after a completion: enough for every subscriber to work
/// out its own position (RULES.md: waiting entries need only `completed_count`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub completed_count: i64,
    /// The active head after the completion, in queue order: (entry id, received in fen).
    pub active: Vec<(i64, i64)>,
    /// Entries paid by this completion: (entry id, received in fen, completed).
    pub changed: Vec<(i64, i64, bool)>,
    /// The entry the order added: (entry id, ordinal).
    pub joined: Option<(i64, i64)>,
    /// Recent seconds per completed entry, for ETAs.
    pub seconds_per_completion: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum EventKind {
    /// An order recorded as PAID and not completed at once (a WeChat Pay payment in a
    /// store that completes later, or the till without `complete`).
    OrderPaid {
        order_id: i64,
        user_id: i64,
        amount: Decimal,
    },
    /// A WeChat Pay refund of an order succeeded.
    OrderRefunded {
        order_id: i64,
        user_id: i64,
        amount: Decimal,
    },
    OrderCompleted {
        order_id: i64,
        user_id: i64,
        amount: Decimal,
    },
    MemberJoined {
        user_id: i64,
        referrer_id: Option<i64>,
    },
    WithdrawalRequested {
        withdrawal_id: i64,
        user_id: i64,
        amount: Decimal,
    },
    /// A withdrawal moved on (TRANSFERRING, PAID, FAILED).
    WithdrawalChanged {
        withdrawal_id: i64,
        user_id: i64,
        amount: Decimal,
        status: String,
    },
    WalletsChanged,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub merchant_id: i64,
    /// Per merchant, gap-free: a subscriber that sees a gap re-reads its state.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    /// Shoppers whose balances changed.
    pub wallets: Vec<i64>,
    pub queue: Option<QueueSnapshot>,
}

/// What local subscribers receive.
#[derive(Clone, Debug)]
pub enum LiveSignal {
    Event(Arc<LiveEvent>),
    /// The backend lost events or its state (Redis flushed or restarted): re-read everything.
    Resync,
}

/// Where events go after commit.
#[async_trait::async_trait]
pub trait LiveBackend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Makes the event known to every instance (and updates shared queue state).
    async fn publish(&self, event: &LiveEvent) -> anyhow::Result<()>;
    /// Publishes events in their order (a backend may send them together).
    async fn publish_many(&self, events: &[LiveEvent]) -> anyhow::Result<()> {
        for event in events {
            self.publish(event).await?;
        }
        Ok(())
    }
    /// Whether this instance can publish events and hear other instances' now. Answers
    /// promptly (within about a second) when the backend is down: readiness depends on it.
    async fn health(&self) -> anyhow::Result<()>;
    /// The 0-based rank of a live entry in its merchant's queue, if the backend keeps one.
    async fn rank(&self, merchant_id: i64, entry_id: i64) -> Option<i64>;
}

/// A process's live hub: the backend, the local fan-out and the relay's wake-up.
#[derive(Clone)]
pub struct LiveHub {
    pub backend: Arc<dyn LiveBackend>,
    pub signals: broadcast::Sender<LiveSignal>,
    pub wake: Arc<Notify>,
}

/// Local subscribers each buffer this many signals; one that falls further behind gets
/// `Lagged` and re-reads its state.
pub const LOCAL_BUFFER: usize = 1024;

impl LiveHub {
    pub fn subscribe(&self) -> broadcast::Receiver<LiveSignal> {
        self.signals.subscribe()
    }

    /// Tells the relay that a transaction with events has committed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
