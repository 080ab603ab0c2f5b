//! The in-process backend: one instance, no Redis. Published events go straight to the
//! local subscribers.

use tokio::sync::broadcast;

use super::{LiveBackend, LiveEvent, LiveSignal};

pub struct MemoryLive {
    signals: broadcast::Sender<LiveSignal>,
}

impl MemoryLive {
    pub fn new(signals: broadcast::Sender<LiveSignal>) -> Self {
        Self { signals }
    }
}

#[async_trait::async_trait]
impl LiveBackend for MemoryLive {
    fn name(&self) -> &'static str {
        "in-process"
    }

    async fn publish(&self, event: &LiveEvent) -> anyhow::Result<()> {
        // No receivers is fine: nobody is watching.
        let _ = self
            .signals
            .send(LiveSignal::Event(std::sync::Arc::new(event.clone())));
        Ok(())
    }

    async fn health(&self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn rank(&self, _merchant_id: i64, _entry_id: i64) -> Option<i64> {
        None
    }
}
