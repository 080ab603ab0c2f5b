//! Group commit: a merchant's recordings and completions that arrive together are settled in
//! one database transaction, under one acquisition of the merchant's lock and with one
//! commit, instead of queueing for the lock one transaction at a time.
//!
//! Every caller puts its job in its merchant's lane and waits for the lane's leader slot;
//! whoever holds the slot takes every job waiting (up to `max_batch`), in arrival order, and
//! runs them one after another in one transaction, each inside a savepoint: a job that fails
//! (a replayed key with other content, too few points, an order already completed) is rolled
//! back alone and its caller gets its own error, exactly as if it had run by itself. The jobs
//! are the same code a single request runs ([`super::orders::record_in`],
//! [`super::orders::complete_in`]), so the results are identical to settling them one by
//! one in that order. Callers hear their result after the commit.
//!
//! The batch runs in a task of its own, so a caller that gives up (a request timeout) does
//! not take the others' jobs down with it; a job whose caller has already gone is not
//! started. If the batch's transaction fails as a whole (a lost connection, a failed commit),
//! each job is run again alone (recordings are idempotent by their key), so no job's outcome
//! depends on another's failure.
//!
//! Across instances the merchant's database lock still orders everything: two instances'
//! batches follow each other.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use entity::order;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tokio::sync::oneshot;

use super::batch_settle::{self, CashCompletion, Remembered};
use crate::error::{AppError, AppResult};

type Outcome = AppResult<order::Model>;

/// The work of one request, run inside a transaction (a savepoint of the batch's); it may
/// run again alone if the batch's transaction fails as a whole.
pub type Work = Arc<
    dyn for<'a> Fn(&'a DatabaseTransaction) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>
        + Send
        + Sync,
>;

struct Job {
    id: u64,
    work: Work,
    /// Set for an order recorded and completed at once in cash: a run of these settles in
    /// memory with multi-row writes ([`batch_settle`]), with the same result as `work`.
    cash: Option<Arc<CashCompletion>>,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Lane {
    /// Held by the caller whose batch is running.
    leader: tokio::sync::Mutex<()>,
    waiting: Mutex<Vec<Job>>,
    /// What the last in-memory settlement of this merchant left known (checked before use).
    remembered: Mutex<Remembered>,
}

impl Lane {
    fn take_remembered(&self) -> Remembered {
        std::mem::take(&mut *self.remembered.lock().expect("lane lock"))
    }

    /// Kept once the transaction that wrote it has committed; forgotten otherwise.
    fn remember(&self, remembered: Option<Remembered>) {
        *self.remembered.lock().expect("lane lock") = remembered.unwrap_or_default();
    }

    fn is_waiting(&self, id: u64) -> bool {
        self.waiting
            .lock()
            .expect("lane lock")
            .iter()
            .any(|job| job.id == id)
    }
}

/// The lanes of every merchant this instance has settled orders for.
pub struct GroupCommit {
    enabled: bool,
    max_batch: usize,
    next_id: AtomicU64,
    /// Jobs that were settled in a transaction shared with others.
    grouped: AtomicU64,
    /// Jobs settled in memory with others of their kind ([`batch_settle`]).
    in_memory: Arc<AtomicU64>,
    lanes: Mutex<HashMap<i64, Arc<Lane>>>,
    /// Stores and members found for earlier orders (they never change).
    pub known_members: super::orders::KnownMembers,
}

impl GroupCommit {
    /// `enabled: false` runs every job in a transaction of its own (one at a time per
    /// merchant by its database lock), as before group commit.
    pub fn new(enabled: bool, max_batch: usize) -> Self {
        Self {
            enabled,
            max_batch: max_batch.max(1),
            next_id: AtomicU64::new(0),
            grouped: AtomicU64::new(0),
            in_memory: Arc::new(AtomicU64::new(0)),
            lanes: Mutex::new(HashMap::new()),
            known_members: Default::default(),
        }
    }

    /// How many jobs so far were settled in a transaction shared with others.
    pub fn grouped(&self) -> u64 {
        self.grouped.load(Ordering::Relaxed)
    }

    /// How many jobs so far were settled in memory ([`batch_settle`]).
    pub fn in_memory(&self) -> u64 {
        self.in_memory.load(Ordering::Relaxed)
    }

    fn lane(&self, merchant_id: i64) -> Arc<Lane> {
        self.lanes
            .lock()
            .expect("lanes lock")
            .entry(merchant_id)
            .or_default()
            .clone()
    }

    /// Runs `work` for `merchant_id`, batched with the merchant's other jobs that arrive
    /// meanwhile; returns its own result once the batch is committed.
    ///
    /// `cash`: the same job as an order recorded and completed in cash, which a batch may
    /// settle with others of its kind in memory. Without group commit every job runs `work`
    /// alone, the reference the batched paths are tested against.
    pub async fn run(
        &self,
        db: &DatabaseConnection,
        merchant_id: i64,
        work: Work,
        cash: Option<CashCompletion>,
    ) -> Outcome {
        if !self.enabled {
            return alone(db, &work).await;
        }
        let cash = cash.map(Arc::new);
        let lane = self.lane(merchant_id);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        lane.waiting.lock().expect("lane lock").push(Job {
            id,
            work,
            cash,
            reply,
        });
        loop {
            let leader = lane.leader.lock().await;
            // Only a caller whose job is still waiting leads: one whose job an earlier batch
            // took would otherwise lead a batch of whatever just arrived (often one job),
            // breaking the next batch into pieces.
            if !lane.is_waiting(id) {
                break;
            }
            let batch: Vec<Job> = {
                let mut waiting = lane.waiting.lock().expect("lane lock");
                let n = waiting.len().min(self.max_batch);
                waiting.drain(..n).collect()
            };
            if !batch.is_empty() {
                let db = db.clone();
                // Its own task: a caller that gives up must not cancel the others' jobs.
                if let Ok(grouped) = tokio::spawn(run_batch(
                    db,
                    merchant_id,
                    lane.clone(),
                    batch,
                    self.in_memory.clone(),
                ))
                .await
                {
                    self.grouped.fetch_add(grouped, Ordering::Relaxed);
                }
            }
            drop(leader);
            // Ours ran in this batch unless it is still waiting (the batch was full): then
            // lead the next one.
            if !lane.is_waiting(id) {
                break;
            }
        }
        answer
            .await
            .unwrap_or_else(|_| Err(AppError::Internal(anyhow::anyhow!("the batch was lost"))))
    }
}

async fn alone(db: &DatabaseConnection, work: &Work) -> Outcome {
    let txn = db.begin().await?;
    let outcome = work(&txn).await;
    match outcome {
        Ok(order) => {
            txn.commit().await?;
            Ok(order)
        }
        Err(err) => {
            txn.rollback().await?;
            Err(err)
        }
    }
}

/// Runs one job in a transaction of its own for a caller waiting on it; stops (and writes
/// nothing) if the caller goes away meanwhile, as a request's own transaction would.
async fn alone_for(
    db: &DatabaseConnection,
    merchant_id: i64,
    lane: &Lane,
    job: &mut Job,
    in_memory: &AtomicU64,
) {
    let outcome = tokio::select! {
        biased;
        _ = job.reply.closed() => return,
        outcome = alone_fast(db, merchant_id, lane, job.cash.clone(), &job.work, in_memory) => outcome,
    };
    let (reply, _) = oneshot::channel();
    let reply = std::mem::replace(&mut job.reply, reply);
    let _ = reply.send(outcome);
}

/// One job in a transaction of its own, through the in-memory settlement when it is a cash
/// completion (fewer statements), else (or if that declines) its own work.
async fn alone_fast(
    db: &DatabaseConnection,
    merchant_id: i64,
    lane: &Lane,
    cash: Option<Arc<CashCompletion>>,
    work: &Work,
    in_memory: &AtomicU64,
) -> Outcome {
    if let Some(cash) = cash {
        let txn = db.begin().await?;
        let known = lane.take_remembered();
        match batch_settle::settle_run(&txn, merchant_id, &[cash.as_ref()], known).await {
            Ok(Some(settled)) => {
                in_memory.fetch_add(1, Ordering::Relaxed);
                let mut outcomes = settled.outcomes;
                let outcome = outcomes
                    .pop()
                    .unwrap_or_else(|| Err(AppError::Internal(anyhow::anyhow!("no outcome"))));
                if outcome.is_err() {
                    txn.rollback().await?;
                    return outcome;
                }
                lane.remember(None);
                // The run's last write goes with the commit, so its failure is the
                // commit's: nothing was kept, and the order settles on its own (a commit
                // that did happen after all is found by its key there).
                match txn.commit().await {
                    Ok(()) => {
                        lane.remember(Some(settled.remembered));
                        return outcome;
                    }
                    Err(err) => tracing::warn!(
                        error = %format!("{err:#}"),
                        "an in-memory settlement failed at its commit; the order settles on its own"
                    ),
                }
            }
            Ok(None) => txn.rollback().await?,
            Err(err) => {
                lane.remember(None);
                tracing::warn!(error = %format!("{err:#}"), "an in-memory settlement failed; the order settles on its own");
                txn.rollback().await?;
            }
        }
    }
    alone(db, work).await
}

/// What became of a batch's shared transaction.
enum Batch {
    Committed(Vec<Outcome>),
    /// A caller went away while its job ran: nothing of the batch is kept.
    Abandoned,
    Failed(AppError),
}

/// Runs a batch; returns how many of its jobs shared its transaction.
async fn run_batch(
    db: DatabaseConnection,
    merchant_id: i64,
    lane: Arc<Lane>,
    batch: Vec<Job>,
    in_memory: Arc<AtomicU64>,
) -> u64 {
    // A caller that has gone (its request timed out) was told nothing was written: keep it so.
    let mut jobs: Vec<Job> = batch.into_iter().filter(|j| !j.reply.is_closed()).collect();
    if jobs.len() <= 1 {
        for job in &mut jobs {
            alone_for(&db, merchant_id, &lane, job, &in_memory).await;
        }
        return 0;
    }
    let started = std::time::Instant::now();
    let settled = shared(&db, merchant_id, &lane, &mut jobs, &in_memory).await;
    tracing::debug!(
        merchant_id,
        jobs = jobs.len(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "group commit"
    );
    match settled {
        Batch::Committed(outcomes) => {
            let grouped = jobs.len() as u64;
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
            grouped
        }
        Batch::Abandoned => {
            for job in &mut jobs {
                if !job.reply.is_closed() {
                    alone_for(&db, merchant_id, &lane, job, &in_memory).await;
                }
            }
            0
        }
        Batch::Failed(err) => {
            tracing::warn!(error = %format!("{err:#}"), jobs = jobs.len(), "a group commit failed; its jobs run again one by one");
            for job in &mut jobs {
                alone_for(&db, merchant_id, &lane, job, &in_memory).await;
            }
            0
        }
    }
}

/// The jobs one after another in one transaction: each run of cash completions settled
/// together in memory in a savepoint, every other job in a savepoint of its own.
async fn shared(
    db: &DatabaseConnection,
    merchant_id: i64,
    lane: &Lane,
    jobs: &mut [Job],
    in_memory: &AtomicU64,
) -> Batch {
    // Kept again only once this batch has committed.
    let mut known = lane.take_remembered();
    let run = async {
        let txn = db.begin().await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut i = 0;
        while i < jobs.len() {
            let end = i + jobs[i..].iter().take_while(|j| j.cash.is_some()).count();
            if end > i {
                let cash: Vec<Arc<CashCompletion>> =
                    jobs[i..end].iter().filter_map(|j| j.cash.clone()).collect();
                let run: Vec<&CashCompletion> = cash.iter().map(Arc::as_ref).collect();
                // A batch that is one run needs no savepoint: if the run fails, the batch
                // fails and its jobs run again alone.
                let whole = i == 0 && end == jobs.len();
                let savepoint = if whole {
                    None
                } else {
                    Some(txn.begin().await?)
                };
                let gone = futures::future::select_all(
                    jobs[i..end].iter_mut().map(|j| Box::pin(j.reply.closed())),
                );
                let settled = tokio::select! {
                    biased;
                    _ = gone => return Ok(None),
                    settled = async {
                        match &savepoint {
                            Some(savepoint) => batch_settle::settle_run(savepoint, merchant_id, &run, std::mem::take(&mut known)).await,
                            None => batch_settle::settle_run(&txn, merchant_id, &run, std::mem::take(&mut known)).await,
                        }
                    } => settled,
                };
                match settled {
                    Ok(Some(settled)) => {
                        if let Some(savepoint) = savepoint {
                            savepoint.commit().await?;
                        }
                        in_memory.fetch_add((end - i) as u64, Ordering::Relaxed);
                        outcomes.extend(settled.outcomes);
                        known = settled.remembered;
                        i = end;
                        continue;
                    }
                    Ok(None) => {
                        if let Some(savepoint) = savepoint {
                            savepoint.rollback().await?;
                        }
                    }
                    Err(err) if whole => return Err(err),
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), jobs = end - i, "an in-memory settlement failed; its orders settle one by one");
                        if let Some(savepoint) = savepoint {
                            savepoint.rollback().await?;
                        }
                    }
                }
            }
            // One job at a time: not a cash completion, or the run was declined.
            for job in &mut jobs[i..end.max(i + 1)] {
                let savepoint = txn.begin().await?;
                let outcome = tokio::select! {
                    biased;
                    _ = job.reply.closed() => return Ok(None),
                    outcome = (job.work)(&savepoint) => outcome,
                };
                if outcome.is_ok() {
                    savepoint.commit().await?;
                } else {
                    savepoint.rollback().await?;
                }
                outcomes.push(outcome);
            }
            i = end.max(i + 1);
        }
        txn.commit().await?;
        Ok::<_, AppError>(Some((outcomes, known)))
    };
    match run.await {
        Ok(Some((outcomes, known))) => {
            lane.remember(Some(known));
            Batch::Committed(outcomes)
        }
        Ok(None) => Batch::Abandoned,
        Err(err) => Batch::Failed(err),
    }
}
