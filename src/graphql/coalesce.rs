//! Reads that many requests make at the same moment, made together. While one read of a kind
//! is on its way to the database, the keys other requests ask for wait, and the next read
//! loads them all in one statement. A read never joins one already sent: that read may have
//! begun before a write the caller saw committed, so each caller's answer is read after it
//! asked. With one request at a time a read goes at once, as it would alone; when many
//! requests ask together, one round trip serves them, which is what limits a busy server
//! (the database's work and the system calls per statement, not the rows).

use std::{
    collections::VecDeque,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use async_graphql::dataloader::Loader;
use tokio::sync::oneshot;

use super::{
    batch::{answer_from, distinct},
    loaders::Failure,
};
use crate::error::AppError;

/// The most keys one read asks for (its statement's parameters); callers past it wait for
/// the next read.
pub const MAX_KEYS: usize = 500;

/// One kind of read (`L` loads many `K` in one statement) shared by every request.
pub struct Coalescer<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K>,
{
    loader: L,
    queue: Mutex<Queue<K, L::Value>>,
}

struct Queue<K, V> {
    /// A read is on its way; whoever made it hands the turn on when it is done.
    busy: bool,
    waiting: VecDeque<Waiter<K, V>>,
}

type Waiter<K, V> = (K, oneshot::Sender<Turn<V>>);

enum Turn<V> {
    /// The waiter's answer, from a read made for it.
    Loaded(Result<Option<V>, Failure>),
    /// The waiter reads next, for itself and everyone waiting by then.
    Lead,
}

impl<K, L> Coalescer<K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Failure>,
{
    pub fn new(loader: L) -> Self {
        Self {
            loader,
            queue: Mutex::new(Queue {
                busy: false,
                waiting: VecDeque::new(),
            }),
        }
    }

    /// The value of `key` as the database holds it now (`None`: there is no such row).
    pub async fn load_one(&self, key: K) -> Result<Option<L::Value>, Failure> {
        let receiver = {
            let mut queue = self.lock();
            if queue.busy {
                let (sender, receiver) = oneshot::channel();
                queue.waiting.push_back((key.clone(), sender));
                Some(receiver)
            } else {
                queue.busy = true;
                None
            }
        };
        if let Some(receiver) = receiver {
            let mut waiting = Waiting {
                coalescer: self,
                receiver: Some(receiver),
            };
            let turn = waiting.receiver.as_mut().expect("set above").await;
            waiting.receiver = None;
            match turn {
                Ok(Turn::Loaded(answer)) => return answer,
                Ok(Turn::Lead) => {}
                Err(_) => {
                    return Err(Arc::new(AppError::Internal(anyhow::anyhow!(
                        "a shared read was dropped"
                    ))))
                }
            }
        }
        // This caller reads, for itself and for every caller waiting now.
        let others = {
            let mut queue = self.lock();
            let take = queue.waiting.len().min(MAX_KEYS - 1);
            queue.waiting.drain(..take).collect()
        };
        let mut leading = Leading {
            coalescer: self,
            others,
        };
        let keys = distinct(std::iter::once(&key).chain(leading.others.iter().map(|(k, _)| k)));
        let loaded = self.loader.load(&keys).await;
        for (other, sender) in leading.others.drain(..) {
            let _ = sender.send(Turn::Loaded(answer_from(&loaded, &other)));
        }
        answer_from(&loaded, &key)
    }

    /// The read that was on its way is done (or its caller went away with `unanswered`
    /// still waiting): the first caller still waiting reads next; with none, the next
    /// caller reads at once.
    fn hand_on(&self, unanswered: Vec<Waiter<K, L::Value>>) {
        let mut queue = self.lock();
        for waiter in unanswered.into_iter().rev() {
            queue.waiting.push_front(waiter);
        }
        while let Some((_, sender)) = queue.waiting.pop_front() {
            // A caller that went away is skipped.
            if sender.send(Turn::Lead).is_ok() {
                return;
            }
        }
        queue.busy = false;
    }

    fn lock(&self) -> MutexGuard<'_, Queue<K, L::Value>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A caller reading for others: when it is done, or dropped half way (its request stopped),
/// the turn passes on and nobody is left waiting.
struct Leading<'a, K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Failure>,
{
    coalescer: &'a Coalescer<K, L>,
    others: Vec<Waiter<K, L::Value>>,
}

impl<K, L> Drop for Leading<'_, K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Failure>,
{
    fn drop(&mut self) {
        self.coalescer.hand_on(std::mem::take(&mut self.others));
    }
}

/// A caller waiting for its turn: dropped after it was given the lead but before it took it,
/// it passes the lead on.
struct Waiting<'a, K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Failure>,
{
    coalescer: &'a Coalescer<K, L>,
    receiver: Option<oneshot::Receiver<Turn<L::Value>>>,
}

impl<K, L> Drop for Waiting<'_, K, L>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    L: Loader<K, Error = Failure>,
{
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if let Ok(Turn::Lead) = receiver.try_recv() {
                self.coalescer.hand_on(Vec::new());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    };

    use tokio::sync::Semaphore;

    use super::*;

    /// A table of one row per key whose every value is the table's version: a read takes its
    /// snapshot when it is sent, then waits for the test to let it finish.
    #[derive(Clone)]
    struct Table {
        version: Arc<AtomicU64>,
        gate: Arc<Semaphore>,
        reads: Arc<Mutex<Vec<Vec<u32>>>>,
    }

    impl Table {
        fn new() -> Self {
            Self {
                version: Arc::new(AtomicU64::new(0)),
                gate: Arc::new(Semaphore::new(0)),
                reads: Arc::default(),
            }
        }

        fn reads(&self) -> Vec<Vec<u32>> {
            self.reads.lock().unwrap().clone()
        }

        /// Lets `n` reads finish.
        fn finish(&self, n: usize) {
            self.gate.add_permits(n);
        }
    }

    impl Loader<u32> for Table {
        type Value = (u32, u64);
        type Error = Failure;

        async fn load(&self, keys: &[u32]) -> Result<HashMap<u32, (u32, u64)>, Failure> {
            let version = self.version.load(Ordering::SeqCst);
            self.reads.lock().unwrap().push(keys.to_vec());
            self.gate.acquire().await.expect("open").forget();
            // Key 0 has no row.
            Ok(keys
                .iter()
                .filter(|k| **k != 0)
                .map(|k| (*k, (*k, version)))
                .collect())
        }
    }

    type Shared = Arc<Coalescer<u32, Table>>;

    fn spawn(shared: &Shared, key: u32) -> tokio::task::JoinHandle<Option<(u32, u64)>> {
        let shared = shared.clone();
        tokio::spawn(async move { shared.load_one(key).await.expect("loads") })
    }

    /// A caller's answer; a caller left waiting fails the test instead of hanging it.
    async fn answer(caller: tokio::task::JoinHandle<Option<(u32, u64)>>) -> Option<(u32, u64)> {
        tokio::time::timeout(Duration::from_secs(5), caller)
            .await
            .expect("the caller was left waiting")
            .expect("the caller finished")
    }

    /// Waits until `n` reads have been sent.
    async fn sent(table: &Table, n: usize) {
        for _ in 0..500 {
            if table.reads().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("{n} reads were never sent: {:?}", table.reads());
    }

    /// A coalescer whose first caller (key 1) has sent its read and waits for it.
    async fn a_read_out() -> (Table, Shared, tokio::task::JoinHandle<Option<(u32, u64)>>) {
        let table = Table::new();
        let shared: Shared = Arc::new(Coalescer::new(table.clone()));
        let first = spawn(&shared, 1);
        sent(&table, 1).await;
        (table, shared, first)
    }

    /// The caller's request stops (a timeout, a client gone): its future is dropped.
    async fn stop(caller: tokio::task::JoinHandle<Option<(u32, u64)>>) {
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Callers of `keys`, come while the first read is out and settled into waiting.
    async fn waiting(
        shared: &Shared,
        keys: impl IntoIterator<Item = u32>,
    ) -> Vec<tokio::task::JoinHandle<Option<(u32, u64)>>> {
        let callers = keys.into_iter().map(|k| spawn(shared, k)).collect();
        settle().await;
        callers
    }

    #[tokio::test]
    async fn a_lone_caller_reads_at_once_and_a_missing_row_is_none() {
        let table = Table::new();
        table.finish(2);
        let shared: Shared = Arc::new(Coalescer::new(table.clone()));
        assert_eq!(shared.load_one(7).await.unwrap(), Some((7, 0)));
        assert_eq!(shared.load_one(0).await.unwrap(), None);
        assert_eq!(table.reads(), vec![vec![7], vec![0]]);
    }

    #[tokio::test]
    async fn callers_that_come_while_a_read_is_out_go_together_in_the_next_and_see_later_writes() {
        let (table, shared, first) = a_read_out().await;
        // A write commits after the first read was sent: later callers must see it.
        table.version.store(1, Ordering::SeqCst);
        let later = waiting(&shared, [2, 3, 2, 0]).await;
        assert_eq!(table.reads().len(), 1, "the others wait for the read out");
        table.finish(2);
        assert_eq!(answer(first).await, Some((1, 0)));
        let mut answers = Vec::new();
        for caller in later {
            answers.push(answer(caller).await);
        }
        assert_eq!(
            answers,
            vec![Some((2, 1)), Some((3, 1)), Some((2, 1)), None],
            "each caller gets its own row, read after it asked"
        );
        let reads = table.reads();
        assert_eq!(reads.len(), 2, "one read for all who waited: {reads:?}");
        let mut second = reads[1].clone();
        second.sort_unstable();
        assert_eq!(second, vec![0, 2, 3], "each key once");
    }

    #[tokio::test]
    async fn a_reader_whose_request_stops_hands_its_waiters_on() {
        let (table, shared, first) = a_read_out().await;
        let [second, third]: [_; 2] = waiting(&shared, [2, 3]).await.try_into().unwrap();
        // The first request stops while its read is out (a timeout, a client gone).
        stop(first).await;
        table.finish(1);
        assert_eq!(answer(second).await, Some((2, 0)));
        assert_eq!(answer(third).await, Some((3, 0)));
        assert_eq!(table.reads(), vec![vec![1], vec![2, 3]]);
        // And the coalescer is free again: a new caller reads at once.
        table.finish(1);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), shared.load_one(4))
                .await
                .expect("not stuck")
                .unwrap(),
            Some((4, 0))
        );
    }

    #[tokio::test]
    async fn a_read_asks_for_at_most_max_keys_and_the_rest_go_in_the_next() {
        let (table, shared, first) = a_read_out().await;
        let callers = waiting(&shared, (0..MAX_KEYS as u32 + 10).map(|k| 10 + k)).await;
        table.finish(3);
        assert_eq!(answer(first).await, Some((1, 0)));
        for (k, caller) in callers.into_iter().enumerate() {
            assert_eq!(answer(caller).await, Some((10 + k as u32, 0)));
        }
        let sizes: Vec<usize> = table.reads().iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![1, MAX_KEYS, 10]);
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_is_skipped() {
        let (table, shared, first) = a_read_out().await;
        let [gone, stays]: [_; 2] = waiting(&shared, [2, 3]).await.try_into().unwrap();
        stop(gone).await;
        table.finish(2);
        assert_eq!(answer(first).await, Some((1, 0)));
        assert_eq!(answer(stays).await, Some((3, 0)));
        assert_eq!(table.reads().len(), 2);
    }
}
