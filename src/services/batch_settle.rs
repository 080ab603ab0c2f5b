//! The in-memory settlement of a run of orders recorded and completed at once: what a group
//! commit uses for the common case at the till (a new order, completed on the spot, paid in
//! cash) so that a run of such orders costs about fifteen statements, not fifteen per order.
//!
//! Under the merchant's lock it inserts the run's orders in one statement (a key used before
//! inserts nothing and is read, to replay or refuse it, as one order alone would), reads once
//! what every order needs (the shoppers' referrers, the head of the queue, the pool, the
//! recent pace of completions; what an earlier run of this instance left is used instead
//! while the queue state's `event_seq` shows nothing else settled since), runs the same pure
//! engines one order after another in arrival order exactly as
//! [`super::orders::record_in`] would, one at a time, and then writes each other table once
//! with multi-row statements: the queue entries, the ledger (one balance update for every
//! account), the point lots, the queue state and the live events. The result is identical
//! to settling the orders one by one (the differential test in `tests/it/group_commit.rs`
//! holds it to that, event by event).
//!
//! What it does not do it declines before writing anything (`Ok(None)`): the value-added
//! program (its pool price moves with every mint), so the caller settles those orders one
//! by one. Orders paying with points or recorded without completing never come here.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use entity::{membership, order, point_lot, queue_entry, queue_state};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::{CaseStatement, Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
};
use serde::Serialize;

use super::{
    orders::{to_fen, PointsPaying, Recording, COMPLETED as ORDER_COMPLETED},
    points::REBATE_POINTS,
    programs,
    queue::{self, COMPLETED as ENTRY_COMPLETED, LIVE},
};
use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind, Cause, Owner, Posting},
    live::{EventKind, LiveEvent, QueueSnapshot},
    rules::{
        money::Unit,
        queue::{settle as settle_rules, ActiveEntry, Completion},
        rebate,
    },
};

/// An order recorded and completed in one request, paid in cash only.
#[derive(Clone, Debug)]
pub struct CashCompletion {
    pub recording: Recording,
    pub now: DateTime<Utc>,
}

/// An entry of the queue: one read from the database, or one this run adds (by its index
/// among the run's new entries, until the database gives it an id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum EntryRef {
    Stored(i64),
    New(usize),
}

impl EntryRef {
    /// The id the pure engine knows it by (new entries have negative ones).
    fn engine_id(self) -> i64 {
        match self {
            Self::Stored(id) => id,
            Self::New(k) => -(k as i64) - 1,
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    at: EntryRef,
    user_id: i64,
    target: i64,
    received: i64,
}

/// The live part of the queue as the run sees it: stored entries are read lazily in queue
/// order (all of them come before any entry the run adds).
#[derive(Clone)]
struct LiveQueue {
    merchant_id: i64,
    stored: VecDeque<Entry>,
    last_ordinal: i64,
    exhausted: bool,
    added: VecDeque<Entry>,
}

impl LiveQueue {
    async fn read(tx: &impl ConnectionTrait, merchant_id: i64, first: usize) -> AppResult<Self> {
        let mut queue = Self {
            merchant_id,
            stored: VecDeque::new(),
            last_ordinal: i64::MIN,
            exhausted: false,
            added: VecDeque::new(),
        };
        queue.read_more(tx, first).await?;
        Ok(queue)
    }

    async fn read_more(&mut self, tx: &impl ConnectionTrait, n: usize) -> AppResult<()> {
        let rows = queue_entry::Entity::find()
            .filter(queue_entry::Column::MerchantId.eq(self.merchant_id))
            .filter(queue_entry::Column::Status.eq(LIVE))
            .filter(queue_entry::Column::Ordinal.gt(self.last_ordinal))
            .order_by_asc(queue_entry::Column::Ordinal)
            .limit(n.max(1) as u64)
            .all(tx)
            .await?;
        self.exhausted = rows.len() < n.max(1);
        for row in rows {
            self.last_ordinal = row.ordinal;
            self.stored.push_back(Entry {
                at: EntryRef::Stored(row.id),
                user_id: row.user_id,
                target: row.target,
                received: row.received,
            });
        }
        Ok(())
    }

    /// Makes sure the first `slots` live entries are known.
    async fn ensure(&mut self, tx: &impl ConnectionTrait, slots: usize) -> AppResult<()> {
        while self.stored.len() < slots && !self.exhausted {
            self.read_more(tx, slots.max(16)).await?;
        }
        Ok(())
    }

    /// The first `slots` live entries (call [`Self::ensure`] first).
    fn head(&self, slots: usize) -> Vec<&Entry> {
        self.stored.iter().chain(&self.added).take(slots).collect()
    }

    fn get_mut(&mut self, at: EntryRef) -> Option<&mut Entry> {
        self.stored
            .iter_mut()
            .chain(self.added.iter_mut())
            .find(|e| e.at == at)
    }

    fn remove(&mut self, at: EntryRef) {
        self.stored.retain(|e| e.at != at);
        self.added.retain(|e| e.at != at);
    }
}

/// A queue entry the run adds, in its final state.
struct NewEntry {
    order: usize,
    ordinal: i64,
    user_id: i64,
    target: i64,
    received: i64,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// A stored entry the run paid: its new total and, if it completed, when.
struct PaidEntry {
    received: i64,
    completed_at: Option<DateTime<Utc>>,
}

/// A stored entry the run paid, as [`PAY_ENTRIES`] reads it (status and time only when it
/// completed).
#[derive(Serialize)]
struct PaidRow {
    id: i64,
    received: i64,
    status: Option<&'static str>,
    completed_at: Option<DateTime<Utc>>,
}

/// The second condition on the id is for the planner: it takes a function's rows for a
/// hundred, and rather than look a hundred ids up it scanned the whole table (a join alone
/// cost a seq scan per run); ids in an array it looks up by the primary key.
const PAY_ENTRIES: &str = "UPDATE queue_entries AS e SET received = p.received, \
    status = COALESCE(p.status, e.status), completed_at = COALESCE(p.completed_at, e.completed_at) \
    FROM json_to_recordset($1::json) AS p(id bigint, received bigint, status text, \
    completed_at timestamptz) \
    WHERE e.id = p.id AND e.id = ANY(ARRAY(SELECT (r->>'id')::bigint \
    FROM json_array_elements($1::json) AS r))";

/// A new entry with its reserved id, as [`INSERT_ENTRIES`] reads it.
#[derive(Serialize)]
struct EntryRow {
    id: i64,
    merchant_id: i64,
    ordinal: i64,
    order_id: i64,
    user_id: i64,
    target: i64,
    received: i64,
    status: &'static str,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

const INSERT_ENTRIES: &str = "INSERT INTO queue_entries \
    (id, merchant_id, ordinal, order_id, user_id, target, received, status, created_at, \
    completed_at) \
    SELECT id, merchant_id, ordinal, order_id, user_id, target, received, status, created_at, \
    completed_at \
    FROM json_to_recordset($1::json) AS r(id bigint, merchant_id bigint, ordinal bigint, \
    order_id bigint, user_id bigint, target bigint, received bigint, status text, \
    created_at timestamptz, completed_at timestamptz)";

/// An order's rebate points, as [`INSERT_LOTS`] reads it.
#[derive(Serialize)]
struct LotRow {
    merchant_id: i64,
    user_id: i64,
    order_id: i64,
    points: i64,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

const INSERT_LOTS: &str = "INSERT INTO point_lots \
    (merchant_id, user_id, order_id, points, remaining, expired, expires_at, created_at) \
    SELECT merchant_id, user_id, order_id, points, points, 0, expires_at, created_at \
    FROM json_to_recordset($1::json) AS r(merchant_id bigint, user_id bigint, \
    order_id bigint, points bigint, expires_at timestamptz, created_at timestamptz)";

/// The queue part of an event, with entries not yet given ids.
struct PendingSnapshot {
    completed_count: i64,
    active: Vec<(EntryRef, i64)>,
    changed: Vec<(EntryRef, i64, bool)>,
    joined: Option<(EntryRef, i64)>,
    seconds_per_completion: Option<f64>,
}

struct PendingEvent {
    order: usize,
    at: DateTime<Utc>,
    wallets: Vec<i64>,
    queue: Option<PendingSnapshot>,
}

/// What each order of the run comes to, before anything is written.
enum Fate {
    /// Its key was used before with the same request: that order.
    Replay(Box<order::Model>),
    /// Its key was used earlier in this run with the same request.
    ReplayOfNew(usize),
    Conflict,
    /// A new order: its index among the run's new orders.
    New(usize),
}

/// What a run leaves known about its merchant, for the next run of this instance: the
/// shoppers' referrers (fixed when they join) and, while nothing else has settled since
/// (the queue state's `event_seq` is still what the run left: every change to the queue and
/// its pool comes with an event), the head of the queue, the pool and the recent pace.
#[derive(Clone, Default)]
pub struct Remembered {
    /// The programs in force (a new version replaces them).
    programs: Option<programs::Versioned>,
    referrers: HashMap<i64, Option<i64>>,
    /// Ledger account ids (an account's id never changes).
    accounts: BTreeMap<(Owner, AccountKind), i64>,
    queue: Option<QueueMemory>,
}

/// Past this many referrers or accounts a merchant's memory starts again.
const REMEMBERED_MAX: usize = 50_000;

#[derive(Clone)]
struct QueueMemory {
    event_seq: i64,
    live: LiveQueue,
    pool: Decimal,
    recent: Vec<DateTime<Utc>>,
}

/// A run's results, and what it leaves known (to keep once its transaction commits).
pub struct Settled {
    pub outcomes: Vec<AppResult<order::Model>>,
    pub remembered: Remembered,
}

/// Settles `run` (one merchant's, in arrival order) in the caller's transaction; each
/// order's own result, as [`super::orders::record_in`] would give it. `None`: the
/// merchant's programs need the one-by-one path (nothing was written but the lock).
/// `known`: what an earlier run of this instance left (checked before use).
pub async fn settle_run(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    run: &[&CashCompletion],
    known: Remembered,
) -> AppResult<Option<Settled>> {
    let Some(first) = run.first() else {
        return Ok(Some(Settled {
            outcomes: Vec::new(),
            remembered: known,
        }));
    };
    let cash_only = run.iter().all(|c| {
        c.recording.complete
            && c.recording.merchant_id == merchant_id
            && matches!(c.recording.points, PointsPaying::FromLots(0))
    });
    if !cash_only {
        return Ok(None);
    }
    crate::db::claim_writer(tx).await?;
    // Each key's first order of the run is inserted at once, complete (a key used before
    // inserts nothing); later orders of the run with the same key are its replays, or
    // conflicts.
    let mut firsts: Vec<&CashCompletion> = Vec::new();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for c in run {
        if seen.insert(c.recording.idempotency_key.as_str()) {
            firsts.push(c);
        }
    }
    let (state, version, reserved, inserted) = if tx.get_database_backend() == DbBackend::Postgres {
        // Ids for what the run may insert: an entry per order while the queue program runs
        // (as far as this instance knows), a transaction per order for the queue and one for
        // points.
        let queue_known_off = known
            .programs
            .as_ref()
            .is_some_and(|p| !p.set.queue.as_ref().is_some_and(|q| q.enabled));
        let reserve = (if queue_known_off { 0 } else { run.len() }, 2 * run.len());
        let locked = match lock_and_insert(tx, merchant_id, reserve, &firsts).await? {
            Some(locked) => locked,
            None => {
                // The merchant's first completion: its queue state is created first.
                queue::lock_merchant(tx, merchant_id, first.now).await?;
                lock_and_insert(tx, merchant_id, reserve, &firsts)
                    .await?
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("queue state vanished")))?
            }
        };
        (
            locked.state,
            locked.version,
            Some(locked.reserved),
            Some(locked.orders),
        )
    } else {
        let (state, version) =
            queue::lock_merchant_and_programs(tx, merchant_id, first.now).await?;
        (state, version, None, None)
    };
    let Remembered {
        mut referrers,
        mut accounts,
        programs,
        queue: known_queue,
    } = known;
    // Program versions are never changed, only added: the one remembered is right while it
    // is still the latest.
    let programs = match programs.filter(|p| p.version == version) {
        Some(programs) => programs,
        None => programs::current(tx, merchant_id).await?,
    };
    // The orders inserted with the lock carry the version read with it; a newer one (added
    // since that statement began) means settling them one by one.
    let mismatched = inserted.is_some() && programs.version != version;
    if mismatched || programs.set.value_added.as_ref().is_some_and(|v| v.enabled) {
        if let Some(orders) = &inserted {
            // Nothing of the run may stay but the lock.
            order::Entity::delete_many()
                .filter(order::Column::Id.is_in(orders.iter().map(|o| o.id)))
                .exec(tx)
                .await?;
        }
        return Ok(None);
    }
    let inserted = match inserted {
        Some(orders) => orders,
        None => insert_orders(tx, &firsts, merchant_id, programs.version).await?,
    };
    let mut inserted: HashMap<String, order::Model> = inserted
        .into_iter()
        .map(|o| (o.idempotency_key.clone(), o))
        .collect();
    let used_before: Vec<&str> = firsts
        .iter()
        .map(|c| c.recording.idempotency_key.as_str())
        .filter(|key| !inserted.contains_key(*key))
        .collect();
    let used: HashMap<String, order::Model> = if used_before.is_empty() {
        HashMap::new()
    } else {
        order::Entity::find()
            .filter(order::Column::MerchantId.eq(merchant_id))
            .filter(order::Column::IdempotencyKey.is_in(used_before))
            .all(tx)
            .await?
            .into_iter()
            .map(|o| (o.idempotency_key.clone(), o))
            .collect()
    };
    let mut fates = Vec::with_capacity(run.len());
    let mut fresh: Vec<&CashCompletion> = Vec::new();
    let mut orders: Vec<order::Model> = Vec::new();
    let mut fresh_by_key: HashMap<&str, usize> = HashMap::new();
    for c in run {
        let r = &c.recording;
        let key = r.idempotency_key.as_str();
        let fate = if let Some(&k) = fresh_by_key.get(key) {
            if orders[k].fingerprint == r.fingerprint {
                Fate::ReplayOfNew(k)
            } else {
                Fate::Conflict
            }
        } else if let Some(order) = inserted.remove(key) {
            fresh_by_key.insert(key, fresh.len());
            fresh.push(c);
            orders.push(order);
            Fate::New(fresh.len() - 1)
        } else {
            let before = used.get(key).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("an order key was neither new nor used"))
            })?;
            if before.fingerprint == r.fingerprint {
                Fate::Replay(Box::new(before.clone()))
            } else {
                Fate::Conflict
            }
        };
        fates.push(fate);
    }
    if fresh.is_empty() {
        // Nothing written: what was known still is.
        return Ok(Some(Settled {
            outcomes: fates.into_iter().map(|f| answer(f, &[])).collect(),
            remembered: Remembered {
                programs: Some(programs),
                referrers,
                accounts,
                queue: known_queue,
            },
        }));
    }

    let queue_rules = programs.set.queue.as_ref().filter(|q| q.enabled);
    let rebate_rules = programs.set.active_rebate();
    let slots = queue_rules.map_or(1, |q| q.active_slots.max(1) as usize);

    // What the queue needs, read once.
    if referrers.len() > REMEMBERED_MAX {
        referrers.clear();
    }
    let mut live = None;
    let mut pool = Decimal::ZERO;
    let mut recent: Vec<DateTime<Utc>> = Vec::new();
    if queue_rules.is_some() {
        let mut users: Vec<i64> = fresh.iter().map(|c| c.recording.user_id).collect();
        for _level in 0..2 {
            users.sort_unstable();
            users.dedup();
            users.retain(|u| !referrers.contains_key(u));
            if users.is_empty() {
                break;
            }
            let found = membership::Entity::find()
                .filter(membership::Column::MerchantId.eq(merchant_id))
                .filter(membership::Column::UserId.is_in(users.clone()))
                .all(tx)
                .await?;
            for u in &users {
                referrers.insert(*u, None);
            }
            for m in found {
                referrers.insert(m.user_id, m.referrer_id);
            }
            users = referrers.values().flatten().copied().collect();
        }
        match known_queue
            .filter(|q| q.event_seq == state.event_seq && q.live.merchant_id == merchant_id)
        {
            Some(q) => {
                live = Some(q.live);
                pool = q.pool;
                recent = q.recent;
            }
            None => {
                live = Some(LiveQueue::read(tx, merchant_id, slots + fresh.len()).await?);
                pool = queue::pool(tx, merchant_id).await?;
                recent = queue::recent_completions(tx, merchant_id).await?;
            }
        }
    }
    let referrer_of = |user: i64| referrers.get(&user).copied().flatten();

    // The orders one after another, in memory.
    let mut next_ordinal = state.next_ordinal;
    let mut live_count = state.live_count;
    let mut completed_count = state.completed_count;
    let mut updated_at = state.updated_at;
    let mut new_entries: Vec<NewEntry> = Vec::new();
    let mut paid: HashMap<i64, PaidEntry> = HashMap::new();
    let mut postings: Vec<(usize, Vec<Posting>)> = Vec::new();
    let mut lots: Vec<(usize, i64)> = Vec::new();
    let mut events: Vec<PendingEvent> = Vec::with_capacity(fresh.len());
    for (i, c) in fresh.iter().enumerate() {
        let r = &c.recording;
        let now = c.now;
        let cash_base = r.amount;
        let mut wallets = vec![r.user_id];
        let mut snapshot = None;
        if let (Some(rules), Some(live)) = (queue_rules, live.as_mut()) {
            let referrer = referrer_of(r.user_id);
            let second = referrer.and_then(referrer_of);
            live.ensure(tx, slots).await?;
            let head: Vec<Entry> = live.head(slots).into_iter().cloned().collect();
            let active: Vec<ActiveEntry> = head
                .iter()
                .map(|e| ActiveEntry {
                    id: e.at.engine_id(),
                    target: Unit::Cny.from_minor(e.target),
                    received: Unit::Cny.from_minor(e.received),
                })
                .collect();
            let completion = Completion {
                cash_base,
                has_referrer: referrer.is_some(),
                has_second_referrer: second.is_some(),
            };
            if let Some(settlement) = settle_rules(rules, &active, pool, completion) {
                let (mut lines, mut credited) =
                    queue::budget_postings(&settlement, referrer, second);
                let mut changed = Vec::new();
                let mut completed = 0;
                for share in &settlement.shares {
                    let entry = head
                        .iter()
                        .find(|e| e.at.engine_id() == share.entry_id)
                        .ok_or_else(|| {
                            AppError::Internal(anyhow::anyhow!("share for an unknown entry"))
                        })?;
                    lines.push(Posting::new(
                        Owner::Shopper(entry.user_id),
                        AccountKind::Cash,
                        share.amount,
                        "QUEUE_SHARE",
                    ));
                    credited.push(entry.user_id);
                    let fen = Unit::Cny.to_minor(share.amount).unwrap_or(0);
                    let received = entry.received + fen;
                    changed.push((entry.at, received, share.completes));
                    let completed_at = share.completes.then_some(now);
                    if let Some(e) = live.get_mut(entry.at) {
                        e.received = received;
                    }
                    match entry.at {
                        EntryRef::Stored(id) => {
                            let p = paid.entry(id).or_insert(PaidEntry {
                                received,
                                completed_at: None,
                            });
                            p.received = received;
                            p.completed_at = p.completed_at.or(completed_at);
                        }
                        EntryRef::New(k) => {
                            new_entries[k].received = received;
                            new_entries[k].completed_at = completed_at;
                        }
                    }
                    if share.completes {
                        live.remove(entry.at);
                        recent.push(now);
                        completed += 1;
                    }
                }
                postings.push((i, lines));
                let joined = settlement.new_entry_target.map(|target| {
                    let k = new_entries.len();
                    let entry = NewEntry {
                        order: i,
                        ordinal: next_ordinal,
                        user_id: r.user_id,
                        target: Unit::Cny.to_minor(target).unwrap_or(0),
                        received: 0,
                        completed_at: None,
                        created_at: now,
                    };
                    live.added.push_back(Entry {
                        at: EntryRef::New(k),
                        user_id: entry.user_id,
                        target: entry.target,
                        received: 0,
                    });
                    new_entries.push(entry);
                    next_ordinal += 1;
                    (EntryRef::New(k), next_ordinal - 1)
                });
                live_count += i64::from(joined.is_some()) - completed;
                completed_count += completed;
                updated_at = now;
                pool = settlement.pool_after;
                credited.sort_unstable();
                credited.dedup();
                wallets.extend(credited);
                live.ensure(tx, slots).await?;
                snapshot = Some(PendingSnapshot {
                    completed_count,
                    active: live
                        .head(slots)
                        .iter()
                        .map(|e| (e.at, e.received))
                        .collect(),
                    changed,
                    joined,
                    seconds_per_completion: queue::pace(&mut recent, now),
                });
            }
        }
        if let Some(rules) = rebate_rules {
            let earned = rebate::points_earned(cash_base, rules);
            if earned > 0 {
                lots.push((i, earned));
                let points = Decimal::from(earned);
                postings.push((
                    i,
                    vec![
                        Posting::new(
                            Owner::Merchant,
                            AccountKind::PointsIssuance,
                            -points,
                            REBATE_POINTS,
                        ),
                        Posting::new(
                            Owner::Shopper(r.user_id),
                            AccountKind::Points,
                            points,
                            REBATE_POINTS,
                        ),
                    ],
                ));
            }
        }
        wallets.sort_unstable();
        wallets.dedup();
        events.push(PendingEvent {
            order: i,
            at: now,
            wallets,
            queue: snapshot,
        });
    }

    // Every other table once: on PostgreSQL with the ids reserved under the lock, in one
    // statement of a fixed text (every part's rows as JSON); else one statement per table,
    // the new entries' ids read back.
    let backend = tx.get_database_backend();
    let paid_ids = || {
        let mut ids: Vec<i64> = paid.keys().copied().collect();
        ids.sort_unstable();
        ids
    };
    let entry_status = |e: &NewEntry| {
        if e.completed_at.is_some() {
            ENTRY_COMPLETED
        } else {
            LIVE
        }
    };
    let lot_expiry = |i: usize| -> AppResult<Option<DateTime<Utc>>> {
        let rules = rebate_rules
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("lots without a rebate program")))?;
        Ok(rebate::expiry(fresh[i].now, rules))
    };
    let first_seq = state.event_seq + 1;
    let last_seq = state.event_seq + events.len() as i64;
    let state_update = queue_state::Entity::update_many()
        .col_expr(queue_state::Column::NextOrdinal, Expr::value(next_ordinal))
        .col_expr(queue_state::Column::LiveCount, Expr::value(live_count))
        .col_expr(
            queue_state::Column::CompletedCount,
            Expr::value(completed_count),
        )
        .col_expr(queue_state::Column::UpdatedAt, Expr::value(updated_at))
        .col_expr(queue_state::Column::EventSeq, Expr::value(last_seq))
        .filter(queue_state::Column::MerchantId.eq(merchant_id));
    let live_events = |entry_ids: &[i64]| -> Vec<LiveEvent> {
        let id_of = |at: EntryRef| match at {
            EntryRef::Stored(id) => id,
            EntryRef::New(k) => entry_ids[k],
        };
        events
            .iter()
            .enumerate()
            .map(|(n, e)| {
                let o = &orders[e.order];
                LiveEvent {
                    merchant_id,
                    seq: first_seq + n as i64,
                    at: e.at,
                    kind: EventKind::OrderCompleted {
                        order_id: o.id,
                        user_id: o.user_id,
                        amount: Unit::Cny.from_minor(o.amount),
                    },
                    wallets: e.wallets.clone(),
                    queue: e.queue.as_ref().map(|s| QueueSnapshot {
                        completed_count: s.completed_count,
                        active: s.active.iter().map(|&(at, r)| (id_of(at), r)).collect(),
                        changed: s
                            .changed
                            .iter()
                            .map(|&(at, r, done)| (id_of(at), r, done))
                            .collect(),
                        joined: s.joined.map(|(at, ordinal)| (id_of(at), ordinal)),
                        seconds_per_completion: s.seconds_per_completion,
                    }),
                }
            })
            .collect()
    };
    if accounts.len() > REMEMBERED_MAX {
        accounts.clear();
    }
    let ledger_batch: Vec<(Cause, Vec<Posting>, DateTime<Utc>)> = postings
        .into_iter()
        .map(|(i, lines)| {
            (
                Cause::order("ORDER_COMPLETED", orders[i].id),
                lines,
                fresh[i].now,
            )
        })
        .collect();
    let reserved = reserved.filter(|r| {
        r.entries.len() >= new_entries.len() && r.transactions.len() >= ledger_batch.len()
    });
    let entry_ids: Vec<i64> = if let Some(reserved) = reserved {
        let entry_ids = reserved.entries[..new_entries.len()].to_vec();
        let paid_rows: Vec<PaidRow> = paid_ids()
            .into_iter()
            .map(|id| PaidRow {
                id,
                received: paid[&id].received,
                status: paid[&id].completed_at.map(|_| ENTRY_COMPLETED),
                completed_at: paid[&id].completed_at,
            })
            .collect();
        let entry_rows: Vec<EntryRow> = new_entries
            .iter()
            .zip(&entry_ids)
            .map(|(e, &id)| EntryRow {
                id,
                merchant_id,
                ordinal: e.ordinal,
                order_id: orders[e.order].id,
                user_id: e.user_id,
                target: e.target,
                received: e.received,
                status: entry_status(e),
                created_at: e.created_at,
                completed_at: e.completed_at,
            })
            .collect();
        let lot_rows = lots
            .iter()
            .map(|&(i, earned)| {
                Ok(LotRow {
                    merchant_id,
                    user_id: fresh[i].recording.user_id,
                    order_id: orders[i].id,
                    points: earned,
                    expires_at: lot_expiry(i)?,
                    created_at: fresh[i].now,
                })
            })
            .collect::<AppResult<Vec<_>>>()?;
        let mut statements = vec![
            crate::db::with_json_rows(PAY_ENTRIES, &paid_rows)?,
            crate::db::with_json_rows(INSERT_ENTRIES, &entry_rows)?,
            crate::db::with_json_rows(INSERT_LOTS, &lot_rows)?,
            state_update.build(backend),
            crate::live::outbox::insert_statement(&live_events(&entry_ids))?,
        ];
        match ledger::post_many_statements(
            tx,
            merchant_id,
            &ledger_batch,
            &mut accounts,
            &reserved.transactions,
        )
        .await?
        {
            Some((ledger_statements, planned)) => {
                statements.extend(ledger_statements);
                // The run's last statement: sent with the commit when `tx` is the
                // transaction, so its row count is not known before it; an account that is
                // not there fails the postings' foreign key to it all the same.
                if let Some(rows) = crate::db::execute_together_with_commit(tx, statements).await? {
                    planned.check_balances(rows)?;
                }
            }
            None => {
                crate::db::execute_together(tx, statements).await?;
                ledger::post_many(tx, merchant_id, ledger_batch, &mut accounts).await?;
            }
        }
        entry_ids
    } else {
        if !paid.is_empty() {
            let ids = paid_ids();
            let mut received = CaseStatement::new();
            let mut status = CaseStatement::new();
            let mut completed_at = CaseStatement::new();
            for id in &ids {
                let p = &paid[id];
                received = received.case(queue_entry::Column::Id.eq(*id), p.received);
                if let Some(at) = p.completed_at {
                    status = status.case(queue_entry::Column::Id.eq(*id), ENTRY_COMPLETED);
                    completed_at = completed_at.case(queue_entry::Column::Id.eq(*id), Some(at));
                }
            }
            let mut update = queue_entry::Entity::update_many()
                .col_expr(queue_entry::Column::Received, received.into())
                .filter(queue_entry::Column::Id.is_in(ids));
            // (A `CASE` needs at least one `WHEN`.)
            if paid.values().any(|p| p.completed_at.is_some()) {
                update = update
                    .col_expr(
                        queue_entry::Column::Status,
                        status
                            .finally(Expr::col(queue_entry::Column::Status))
                            .into(),
                    )
                    .col_expr(
                        queue_entry::Column::CompletedAt,
                        completed_at
                            .finally(Expr::col(queue_entry::Column::CompletedAt))
                            .into(),
                    );
            }
            update.exec(tx).await?;
        }
        let mut entry_ids = Vec::with_capacity(new_entries.len());
        if !new_entries.is_empty() {
            let added = queue_entry::Entity::insert_many(new_entries.iter().map(|e| {
                queue_entry::ActiveModel {
                    merchant_id: Set(merchant_id),
                    ordinal: Set(e.ordinal),
                    order_id: Set(orders[e.order].id),
                    user_id: Set(e.user_id),
                    target: Set(e.target),
                    received: Set(e.received),
                    status: Set(entry_status(e).into()),
                    created_at: Set(e.created_at),
                    completed_at: Set(e.completed_at),
                    ..Default::default()
                }
            }))
            .exec_with_returning_many(tx)
            .await?;
            let by_ordinal: HashMap<i64, i64> = added.iter().map(|e| (e.ordinal, e.id)).collect();
            for e in &new_entries {
                entry_ids.push(*by_ordinal.get(&e.ordinal).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("a queue entry of the run was not inserted"))
                })?);
            }
        }
        ledger::post_many(tx, merchant_id, ledger_batch, &mut accounts).await?;
        if !lots.is_empty() {
            let rows = lots
                .iter()
                .map(|&(i, earned)| {
                    Ok(point_lot::ActiveModel {
                        merchant_id: Set(merchant_id),
                        user_id: Set(fresh[i].recording.user_id),
                        order_id: Set(Some(orders[i].id)),
                        points: Set(earned),
                        remaining: Set(earned),
                        expired: Set(0),
                        expires_at: Set(lot_expiry(i)?),
                        created_at: Set(fresh[i].now),
                        ..Default::default()
                    })
                })
                .collect::<AppResult<Vec<_>>>()?;
            point_lot::Entity::insert_many(rows)
                .exec_without_returning(tx)
                .await?;
        }
        state_update.exec(tx).await?;
        crate::live::outbox::insert_many(tx, &live_events(&entry_ids)).await?;
        entry_ids
    };

    // What the next run may start from: the entries the run added become stored ones when
    // every stored entry is known (else they are read again after the unread ones).
    let queue = live.map(|mut live| {
        let added: Vec<Entry> = live.added.drain(..).collect();
        if live.exhausted {
            for e in added {
                let EntryRef::New(k) = e.at else { continue };
                live.last_ordinal = new_entries[k].ordinal;
                live.stored.push_back(Entry {
                    at: EntryRef::Stored(entry_ids[k]),
                    ..e
                });
            }
        }
        queue::pace(&mut recent, updated_at);
        QueueMemory {
            event_seq: state.event_seq + events.len() as i64,
            live,
            pool,
            recent,
        }
    });
    Ok(Some(Settled {
        outcomes: fates.into_iter().map(|f| answer(f, &orders)).collect(),
        remembered: Remembered {
            programs: Some(programs),
            referrers,
            accounts,
            queue,
        },
    }))
}

/// Ids taken from the sequences for rows a run will insert, so every write of the run can go
/// in one statement; in order, after the lock. Ids a run does not use are skipped, as a
/// rolled-back insert skips them.
#[derive(Debug, Default)]
struct Reserved {
    entries: Vec<i64>,
    transactions: Vec<i64>,
}

/// What the run's first statement on PostgreSQL gives.
struct Locked {
    state: queue_state::Model,
    /// The merchant's program version (0 before any), also written on the orders.
    version: i32,
    reserved: Reserved,
    /// The orders inserted (a key used before inserts nothing).
    orders: Vec<order::Model>,
}

/// PostgreSQL, one statement (its `BEGIN` in the same write): the merchant's lock, its
/// program version, `reserve` = (queue entry ids, ledger transaction ids) drawn once the
/// lock is held, and each key's first order of the run inserted after it. `None` (nothing
/// done) when the merchant has no queue state yet.
async fn lock_and_insert(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    reserve: (usize, usize),
    firsts: &[&CashCompletion],
) -> AppResult<Option<Locked>> {
    let rows = firsts
        .iter()
        .map(|c| {
            let r = &c.recording;
            Ok(OrderRow {
                merchant_id,
                store_id: r.store_id,
                user_id: r.user_id,
                amount: to_fen(r.amount)?,
                status: ORDER_COMPLETED,
                idempotency_key: &r.idempotency_key,
                fingerprint: &r.fingerprint,
                recorded_by: r.recorded_by,
                at: c.now,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let mut statement = crate::db::with_json_rows(LOCK_AND_INSERT, &rows)?;
    if let Some(values) = statement.values.as_mut() {
        values.0.extend([
            merchant_id.into(),
            (reserve.0 as i64).into(),
            (reserve.1 as i64).into(),
        ]);
    }
    let rows = tx.query_all(statement).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let ids = |column: &str| -> AppResult<Vec<i64>> {
        let text: String = first.try_get("", column)?;
        text.split(',')
            .filter(|id| !id.is_empty())
            .map(|id| {
                id.parse().map_err(|_| {
                    AppError::Internal(anyhow::anyhow!("a reserved id is not a number: {id}"))
                })
            })
            .collect()
    };
    let mut orders = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<Option<i64>>("o_", "id")?.is_some() {
            orders.push(order::Model::from_query_result(row, "o_")?);
        }
    }
    Ok(Some(Locked {
        state: queue_state::Model::from_query_result(first, "")?,
        version: first.try_get("", "program_version")?,
        reserved: Reserved {
            entries: ids("entry_ids")?,
            transactions: ids("transaction_ids")?,
        },
        orders,
    }))
}

/// The lock is taken first: the insert and the ids read `s`, so no order is written and no
/// id drawn before it is held. One row per inserted order (its columns prefixed `o_`), or
/// one with them null when none was; none without a queue state.
const LOCK_AND_INSERT: &str = "WITH s AS (SELECT * FROM queue_states WHERE merchant_id = $2 \
    FOR UPDATE), \
    v AS (SELECT COALESCE(MAX(version), 0) AS version FROM program_versions \
    WHERE merchant_id = $2), \
    ids AS (SELECT array_to_string(ARRAY(SELECT nextval('queue_entries_id_seq') \
    FROM generate_series(1, $3)), ',') AS entry_ids, \
    array_to_string(ARRAY(SELECT nextval('ledger_transactions_id_seq') \
    FROM generate_series(1, $4)), ',') AS transaction_ids FROM s), \
    o AS (INSERT INTO orders (merchant_id, store_id, user_id, amount, cash_paid, points_used, \
    status, idempotency_key, fingerprint, program_version, recorded_by, created_at, \
    completed_at) \
    SELECT r.merchant_id, r.store_id, r.user_id, r.amount, r.amount, 0, r.status, \
    r.idempotency_key, r.fingerprint, v.version, r.recorded_by, r.at, r.at \
    FROM s, v, json_to_recordset($1::json) AS r(merchant_id bigint, store_id bigint, \
    user_id bigint, amount bigint, status text, idempotency_key text, fingerprint text, \
    recorded_by bigint, at timestamptz) \
    ON CONFLICT (merchant_id, idempotency_key) DO NOTHING RETURNING *) \
    SELECT s.*, v.version AS program_version, ids.entry_ids, ids.transaction_ids, \
    o.id AS o_id, o.merchant_id AS o_merchant_id, o.store_id AS o_store_id, \
    o.user_id AS o_user_id, o.amount AS o_amount, o.cash_paid AS o_cash_paid, \
    o.points_used AS o_points_used, o.status AS o_status, \
    o.idempotency_key AS o_idempotency_key, o.fingerprint AS o_fingerprint, \
    o.program_version AS o_program_version, o.recorded_by AS o_recorded_by, \
    o.refund_reason AS o_refund_reason, o.created_at AS o_created_at, \
    o.completed_at AS o_completed_at, o.refunded_at AS o_refunded_at, \
    o.refunded_amount AS o_refunded_amount \
    FROM s CROSS JOIN v CROSS JOIN ids LEFT JOIN o ON true";

/// An order paid in cash and completed when recorded, as [`LOCK_AND_INSERT`] reads it.
#[derive(Serialize)]
struct OrderRow<'a> {
    merchant_id: i64,
    store_id: i64,
    user_id: i64,
    amount: i64,
    status: &'static str,
    idempotency_key: &'a str,
    fingerprint: &'a str,
    recorded_by: Option<i64>,
    at: DateTime<Utc>,
}

/// Inserts each key's first order of the run, complete; the ones inserted come back (a key
/// used before inserts nothing). PostgreSQL does this with the lock ([`lock_and_insert`]).
async fn insert_orders(
    tx: &impl ConnectionTrait,
    firsts: &[&CashCompletion],
    merchant_id: i64,
    program_version: i32,
) -> AppResult<Vec<order::Model>> {
    let rows = firsts
        .iter()
        .map(|c| {
            let r = &c.recording;
            Ok(order::ActiveModel {
                merchant_id: Set(merchant_id),
                store_id: Set(r.store_id),
                user_id: Set(r.user_id),
                amount: Set(to_fen(r.amount)?),
                cash_paid: Set(to_fen(r.amount)?),
                points_used: Set(0),
                status: Set(ORDER_COMPLETED.into()),
                idempotency_key: Set(r.idempotency_key.clone()),
                fingerprint: Set(r.fingerprint.clone()),
                program_version: Set(Some(program_version)),
                recorded_by: Set(r.recorded_by),
                created_at: Set(c.now),
                completed_at: Set(Some(c.now)),
                ..Default::default()
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(order::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([order::Column::MerchantId, order::Column::IdempotencyKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_with_returning_many(tx)
        .await?)
}

/// One order's own result.
fn answer(fate: Fate, orders: &[order::Model]) -> AppResult<order::Model> {
    match fate {
        Fate::Replay(order) => Ok(*order),
        Fate::ReplayOfNew(k) | Fate::New(k) => Ok(orders[k].clone()),
        Fate::Conflict => Err(AppError::conflict(
            "this idempotencyKey was used for a different order",
        )),
    }
}
