//! Batches that load when the request has nothing else to do, not after a guessed delay.
//!
//! Resolvers queue the keys they need ([`Batcher::load_one`]); a request's future is driven
//! by [`drive`], which loads every queued batch the moment the request stops making progress
//! on its own, that is when all the siblings of a level have asked for their keys. So a page
//! of 100 orders asks for its users in one statement however slowly the machine polls it.
//! A batch queued outside a driven request (or left waiting) is loaded after a short fallback
//! delay, so nothing waits forever.

use std::{
    any::{Any, TypeId},
    collections::HashMap,
    future::Future,
    hash::Hash,
    pin::pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, Weak,
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use async_graphql::dataloader::Loader;
use tokio::sync::oneshot;

use super::loaders::{Db, Failure};
use crate::error::AppError;

/// How long a batch queued outside a driven request waits for its siblings.
const FALLBACK: Duration = Duration::from_millis(5);

/// Starts loading one batch.
type Flush = Box<dyn FnOnce(Arc<Db>) + Send>;
/// A queued batch of some key type.
type AnyBatch = Box<dyn Any + Send>;
/// Where one waiter's value goes.
type Answer<V> = oneshot::Sender<Result<Option<V>, Failure>>;

/// The keys of one kind waiting to be loaded, and who waits for each.
struct Batch<K, V> {
    waiters: Vec<(K, Answer<V>)>,
}

#[derive(Default)]
struct Queued {
    batches: HashMap<TypeId, AnyBatch>,
    flushes: HashMap<TypeId, fn(AnyBatch) -> Flush>,
}

pub struct Batcher {
    db: Arc<Db>,
    queued: Mutex<Queued>,
    /// Whether [`drive`] loads the batches; otherwise each waits [`FALLBACK`].
    driven: bool,
    this: Weak<Batcher>,
}

impl Batcher {
    /// A batcher for one request run by [`drive`].
    pub fn driven(db: Arc<Db>) -> Arc<Self> {
        Self::new(db, true)
    }

    /// A batcher for requests nobody drives (subscriptions' events): each batch waits a few
    /// milliseconds for its siblings.
    pub fn on_timer(db: Arc<Db>) -> Arc<Self> {
        Self::new(db, false)
    }

    fn new(db: Arc<Db>, driven: bool) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            db,
            queued: Mutex::new(Queued::default()),
            driven,
            this: this.clone(),
        })
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key`, loaded together with every other key of its kind queued before
    /// the batch goes.
    pub async fn load_one<K, V>(&self, key: K) -> Result<Option<V>, Failure>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        V: Send + Sync + Clone + 'static,
        Db: Loader<K, Value = V, Error = Failure>,
    {
        let (sender, receiver) = oneshot::channel();
        let first = {
            let mut queued = self.queued();
            let id = TypeId::of::<K>();
            queued.flushes.entry(id).or_insert(flush_of::<K, V>);
            let batch = queued.batches.entry(id).or_insert_with(|| {
                Box::new(Batch::<K, V> {
                    waiters: Vec::new(),
                })
            });
            let batch = batch
                .downcast_mut::<Batch<K, V>>()
                .expect("one batch type per key type");
            batch.waiters.push((key, sender));
            batch.waiters.len() == 1
        };
        if first && !self.driven {
            let this = self.this.clone();
            tokio::spawn(async move {
                tokio::time::sleep(FALLBACK).await;
                if let Some(batcher) = this.upgrade() {
                    batcher.flush();
                }
            });
        }
        receiver.await.unwrap_or_else(|_| {
            Err(Arc::new(AppError::Internal(anyhow::anyhow!(
                "a batch load was dropped"
            ))))
        })
    }

    /// Starts loading every queued batch.
    pub fn flush(&self) {
        let batches: Vec<Flush> = {
            let mut queued = self.queued();
            let batches = std::mem::take(&mut queued.batches);
            batches
                .into_iter()
                .map(|(id, batch)| (queued.flushes[&id])(batch))
                .collect()
        };
        for flush in batches {
            flush(self.db.clone());
        }
    }
}

fn flush_of<K, V>(batch: AnyBatch) -> Flush
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    V: Send + Sync + Clone + 'static,
    Db: Loader<K, Value = V, Error = Failure>,
{
    let batch = batch
        .downcast::<Batch<K, V>>()
        .expect("one batch type per key type");
    Box::new(move |db: Arc<Db>| {
        tokio::spawn(async move {
            let keys = distinct(batch.waiters.iter().map(|(key, _)| key));
            let loaded = db.load(&keys).await;
            for (key, waiter) in batch.waiters {
                let _ = waiter.send(answer_from(&loaded, &key));
            }
        });
    })
}

/// The distinct keys a batch's callers asked for, in the order first asked.
pub(super) fn distinct<'a, K: Eq + Clone + 'a>(asked: impl IntoIterator<Item = &'a K>) -> Vec<K> {
    let mut keys: Vec<K> = Vec::new();
    for key in asked {
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    keys
}

/// One caller's answer from its batch's load: its value, or the batch's shared failure.
pub(super) fn answer_from<K: Hash + Eq, V: Clone>(
    loaded: &Result<HashMap<K, V>, Failure>,
    key: &K,
) -> Result<Option<V>, Failure> {
    match loaded {
        Ok(values) => Ok(values.get(key).cloned()),
        Err(failure) => Err(failure.clone()),
    }
}

/// Notes whether the driven future woke itself while it was being polled (it has more to
/// do at once), passing the wake on.
struct Noting {
    inner: Waker,
    woken: AtomicBool,
}

impl Wake for Noting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.inner.wake_by_ref();
    }
}

/// Runs `future` (a request), loading the batcher's queued batches whenever it waits with
/// nothing else to do.
pub async fn drive<F: Future>(batcher: Arc<Batcher>, future: F) -> F::Output {
    let mut future = pin!(future);
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        let noting = Arc::new(Noting {
            inner: cx.waker().clone(),
            woken: AtomicBool::new(false),
        });
        let waker = Waker::from(noting.clone());
        let mut inner = Context::from_waker(&waker);
        match future.as_mut().poll(&mut inner) {
            Poll::Ready(output) => Poll::Ready(output),
            Poll::Pending => {
                if !noting.woken.load(Ordering::Acquire) {
                    batcher.flush();
                }
                Poll::Pending
            }
        }
    })
    .await
}
