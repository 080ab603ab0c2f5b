//! The queue free-order program's storage: the engine runs inside the completion's
//! transaction, under a lock on the merchant's queue state.

use chrono::{DateTime, Utc};
use entity::{membership, order, queue_entry, queue_state};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind, Cause, Owner, Posting},
    rules::{
        money::Unit,
        programs::QueueRules,
        queue::{settle as settle_rules, ActiveEntry, Completion},
    },
};

pub const LIVE: &str = "LIVE";
pub const COMPLETED: &str = "COMPLETED";

/// Takes the merchant's queue lock for the rest of the transaction (PostgreSQL: a row lock
/// on its queue state; SQLite: the single writer already serializes) and returns the state.
pub async fn lock_merchant(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    now: DateTime<Utc>,
) -> AppResult<queue_state::Model> {
    // One statement once the merchant has a queue state (every time but the first).
    if let Some(state) = queue_state::Entity::find_by_id(merchant_id)
        .lock_exclusive()
        .one(tx)
        .await?
    {
        return Ok(state);
    }
    queue_state::Entity::insert(queue_state::ActiveModel {
        merchant_id: Set(merchant_id),
        next_ordinal: Set(1),
        live_count: Set(0),
        completed_count: Set(0),
        event_seq: Set(0),
        updated_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(queue_state::Column::MerchantId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    queue_state::Entity::find_by_id(merchant_id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("queue state vanished")))
}

/// [`lock_merchant`], with the merchant's current program version (0 before any) read in
/// the same statement (PostgreSQL's settlement has its own: `batch_settle`).
pub async fn lock_merchant_and_programs(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    now: DateTime<Utc>,
) -> AppResult<(queue_state::Model, i32)> {
    let backend = tx.get_database_backend();
    let statement = Statement::from_sql_and_values(
        backend,
        "SELECT s.*, (SELECT MAX(v.version) FROM program_versions v WHERE v.merchant_id = ?) \
         AS program_version FROM queue_states s WHERE s.merchant_id = ?",
        [merchant_id.into(), merchant_id.into()],
    );
    let Some(row) = tx.query_one(statement).await? else {
        let state = lock_merchant(tx, merchant_id, now).await?;
        let version = super::programs::current(tx, merchant_id).await?.version;
        return Ok((state, version));
    };
    let state = queue_state::Model::from_query_result(&row, "")?;
    let version: Option<i32> = row.try_get("", "program_version")?;
    Ok((state, version.unwrap_or(0)))
}

/// The first `slots` live entries, in queue order: an index range scan, whatever the length
/// of the queue behind them.
pub async fn active_entries(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    slots: i32,
) -> AppResult<Vec<queue_entry::Model>> {
    Ok(queue_entry::Entity::find()
        .filter(queue_entry::Column::MerchantId.eq(merchant_id))
        .filter(queue_entry::Column::Status.eq(LIVE))
        .order_by_asc(queue_entry::Column::Ordinal)
        .limit(slots.max(1) as u64)
        .all(db)
        .await?)
}

/// `limit` live entries in queue order after the first `offset`.
pub async fn live_entries_page(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    offset: i32,
    limit: i32,
) -> AppResult<Vec<queue_entry::Model>> {
    Ok(queue_entry::Entity::find()
        .filter(queue_entry::Column::MerchantId.eq(merchant_id))
        .filter(queue_entry::Column::Status.eq(LIVE))
        .order_by_asc(queue_entry::Column::Ordinal)
        .offset(offset.max(0) as u64)
        .limit(limit.max(1) as u64)
        .all(db)
        .await?)
}

pub async fn pool(db: &impl ConnectionTrait, merchant_id: i64) -> AppResult<Decimal> {
    ledger::balance(db, merchant_id, Owner::Merchant, AccountKind::QueuePool).await
}

async fn referrer_of(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<Option<i64>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::MerchantId.eq(merchant_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(tx)
        .await?
        .and_then(|m| m.referrer_id))
}

/// What a completion changed in the queue, for the live event.
#[derive(Clone, Debug, Default)]
pub struct SettleOutcome {
    /// (entry id, received in fen, completed)
    pub changed: Vec<(i64, i64, bool)>,
    /// (entry id, ordinal) of the order's own entry.
    pub joined: Option<(i64, i64)>,
    /// Shoppers whose cash grew.
    pub credited: Vec<i64>,
}

/// A completion's postings other than the entries' shares: the merchant's funding, the pool
/// released and carried, and the referral rewards (with the shoppers they credit).
pub fn budget_postings(
    settlement: &crate::rules::queue::Settlement,
    referrer: Option<i64>,
    second: Option<i64>,
) -> (Vec<Posting>, Vec<i64>) {
    let mut postings = vec![
        Posting::new(
            Owner::Merchant,
            AccountKind::RewardFunding,
            -settlement.funding,
            "QUEUE_FUNDING",
        ),
        Posting::new(
            Owner::Merchant,
            AccountKind::QueuePool,
            -settlement.pool_before,
            "POOL_RELEASE",
        ),
        Posting::new(
            Owner::Merchant,
            AccountKind::QueuePool,
            settlement.pool_after,
            "POOL_CARRY",
        ),
    ];
    let mut credited = Vec::new();
    if let Some(r) = referrer {
        postings.push(Posting::new(
            Owner::Shopper(r),
            AccountKind::Cash,
            settlement.referral,
            "REFERRAL",
        ));
        credited.push(r);
    }
    if let Some(r) = second {
        postings.push(Posting::new(
            Owner::Shopper(r),
            AccountKind::Cash,
            settlement.second_referral,
            "REFERRAL_SECOND_LEVEL",
        ));
        credited.push(r);
    }
    (postings, credited)
}

/// Settles a completed order in the queue program: pays the active entries and the
/// referrers, carries the rest to the pool, and appends the order's own entry. The caller
/// holds the merchant's queue lock.
pub async fn settle(
    tx: &impl ConnectionTrait,
    rules: &QueueRules,
    state: &queue_state::Model,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<Option<SettleOutcome>> {
    let merchant_id = order.merchant_id;
    let referrer = referrer_of(tx, merchant_id, order.user_id).await?;
    let second = match referrer {
        Some(r) => referrer_of(tx, merchant_id, r).await?,
        None => None,
    };
    let head = active_entries(tx, merchant_id, rules.active_slots).await?;
    let active: Vec<ActiveEntry> = head
        .iter()
        .map(|e| ActiveEntry {
            id: e.id,
            target: Unit::Cny.from_minor(e.target),
            received: Unit::Cny.from_minor(e.received),
        })
        .collect();
    let pool_before = pool(tx, merchant_id).await?;
    let completion = Completion {
        cash_base: Unit::Cny.from_minor(super::orders::reward_base(order)),
        has_referrer: referrer.is_some(),
        has_second_referrer: second.is_some(),
    };
    let Some(settlement) = settle_rules(rules, &active, pool_before, completion) else {
        return Ok(None); // below the minimum order amount: no queue effect
    };
    let mut outcome = SettleOutcome::default();

    let (mut postings, credited) = budget_postings(&settlement, referrer, second);
    outcome.credited.extend(credited);
    let mut completed = 0;
    for share in &settlement.shares {
        let entry = head
            .iter()
            .find(|e| e.id == share.entry_id)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("share for an unknown entry")))?;
        postings.push(Posting::new(
            Owner::Shopper(entry.user_id),
            AccountKind::Cash,
            share.amount,
            "QUEUE_SHARE",
        ));
        let fen = Unit::Cny.to_minor(share.amount).unwrap_or(0);
        outcome.credited.push(entry.user_id);
        outcome
            .changed
            .push((entry.id, entry.received + fen, share.completes));
        let mut update = queue_entry::Entity::update_many()
            .col_expr(
                queue_entry::Column::Received,
                Expr::col(queue_entry::Column::Received).add(fen),
            )
            .filter(queue_entry::Column::Id.eq(entry.id));
        if share.completes {
            update = update
                .col_expr(queue_entry::Column::Status, Expr::value(COMPLETED))
                .col_expr(queue_entry::Column::CompletedAt, Expr::value(Some(now)));
            completed += 1;
        }
        update.exec(tx).await?;
    }
    ledger::post(
        tx,
        merchant_id,
        Cause::order("ORDER_COMPLETED", order.id),
        &postings,
        now,
    )
    .await?;

    let joined = match settlement.new_entry_target {
        Some(target) => {
            let id = queue_entry::Entity::insert(queue_entry::ActiveModel {
                merchant_id: Set(merchant_id),
                ordinal: Set(state.next_ordinal),
                order_id: Set(order.id),
                user_id: Set(order.user_id),
                target: Set(Unit::Cny.to_minor(target).unwrap_or(0)),
                received: Set(0),
                status: Set(LIVE.into()),
                created_at: Set(now),
                ..Default::default()
            })
            .exec(tx)
            .await?
            .last_insert_id;
            outcome.joined = Some((id, state.next_ordinal));
            1
        }
        None => 0,
    };
    queue_state::Entity::update_many()
        .col_expr(
            queue_state::Column::NextOrdinal,
            Expr::col(queue_state::Column::NextOrdinal).add(joined),
        )
        .col_expr(
            queue_state::Column::LiveCount,
            Expr::col(queue_state::Column::LiveCount).add(joined - completed),
        )
        .col_expr(
            queue_state::Column::CompletedCount,
            Expr::col(queue_state::Column::CompletedCount).add(completed),
        )
        .col_expr(queue_state::Column::UpdatedAt, Expr::value(now))
        .filter(queue_state::Column::MerchantId.eq(merchant_id))
        .exec(tx)
        .await?;
    outcome.credited.sort_unstable();
    outcome.credited.dedup();
    Ok(Some(outcome))
}

/// Where an entry stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Active { position: i64 },
    Waiting { position: i64 },
    Completed,
}

/// The entry's standing: from the active head (N rows) and the counters, never a count of
/// the waiting entries. A waiting entry's position is `ordinal − completed` because entries
/// leave only from the active head.
pub async fn standing(
    db: &impl ConnectionTrait,
    entry: &queue_entry::Model,
    slots: i32,
) -> AppResult<Standing> {
    if entry.status == COMPLETED {
        return Ok(Standing::Completed);
    }
    Ok(head(db, entry.merchant_id, slots).await?.standing_of(entry))
}

/// What every entry's standing is measured against: the ids of the active entries, in
/// order, and how many entries have completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueHead {
    pub active: Vec<i64>,
    pub completed: i64,
}

impl QueueHead {
    pub fn standing_of(&self, entry: &queue_entry::Model) -> Standing {
        if entry.status == COMPLETED {
            return Standing::Completed;
        }
        match self.active.iter().position(|id| *id == entry.id) {
            Some(index) => Standing::Active {
                position: index as i64 + 1,
            },
            None => Standing::Waiting {
                position: entry.ordinal - self.completed,
            },
        }
    }
}

/// The head of a merchant's queue with `slots` active places.
pub async fn head(db: &impl ConnectionTrait, merchant_id: i64, slots: i32) -> AppResult<QueueHead> {
    let active = active_entries(db, merchant_id, slots)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    let completed = queue_state::Entity::find_by_id(merchant_id)
        .one(db)
        .await?
        .map_or(0, |s| s.completed_count);
    Ok(QueueHead { active, completed })
}

/// The queue's recent pace: seconds per completed entry over its last 20 completions, or
/// `None` with fewer than two to go on.
pub async fn seconds_per_completion(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    now: DateTime<Utc>,
) -> AppResult<Option<f64>> {
    let mut recent = recent_completions(db, merchant_id).await?;
    Ok(pace(&mut recent, now))
}

/// How many recent completions the queue's pace is measured over.
pub const PACE_WINDOW: usize = 20;

/// When the most recent [`PACE_WINDOW`] entries completed, newest first.
pub async fn recent_completions(
    db: &impl ConnectionTrait,
    merchant_id: i64,
) -> AppResult<Vec<DateTime<Utc>>> {
    let recent: Vec<Option<DateTime<Utc>>> = queue_entry::Entity::find()
        .select_only()
        .column(queue_entry::Column::CompletedAt)
        .filter(queue_entry::Column::MerchantId.eq(merchant_id))
        .filter(queue_entry::Column::CompletedAt.is_not_null())
        .order_by_desc(queue_entry::Column::CompletedAt)
        .limit(PACE_WINDOW as u64)
        .into_tuple()
        .all(db)
        .await?;
    Ok(recent.into_iter().flatten().collect())
}

/// Seconds per completed entry over the most recent completions (`recent`, in any order;
/// only the newest [`PACE_WINDOW`] are kept).
pub fn pace(recent: &mut Vec<DateTime<Utc>>, now: DateTime<Utc>) -> Option<f64> {
    recent.sort_unstable_by(|a, b| b.cmp(a));
    recent.truncate(PACE_WINDOW);
    if recent.len() < 2 {
        return None;
    }
    let oldest = *recent.last()?;
    let span = (now - oldest).num_milliseconds() as f64 / 1000.0;
    if span <= 0.0 {
        return None;
    }
    Some(span / recent.len() as f64)
}

pub async fn entry(db: &impl ConnectionTrait, id: i64) -> AppResult<queue_entry::Model> {
    queue_entry::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("queue entry"))
}

pub async fn entry_of_order(
    db: &impl ConnectionTrait,
    order_id: i64,
) -> AppResult<Option<queue_entry::Model>> {
    Ok(queue_entry::Entity::find()
        .filter(queue_entry::Column::OrderId.eq(order_id))
        .one(db)
        .await?)
}

/// The most queue entries a member's list shows.
pub const MEMBER_ENTRIES: usize = 200;

pub async fn entries_of_member(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<Vec<queue_entry::Model>> {
    Ok(queue_entry::Entity::find()
        .filter(queue_entry::Column::UserId.eq(user_id))
        .filter(queue_entry::Column::MerchantId.eq(merchant_id))
        .order_by_desc(queue_entry::Column::Ordinal)
        .limit(MEMBER_ENTRIES as u64)
        .all(db)
        .await?)
}

/// Counts for the dashboard: (waiting, active, completed, pool).
pub async fn stats(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    slots: i32,
) -> AppResult<(i64, i64, i64, Decimal)> {
    let state = queue_state::Entity::find_by_id(merchant_id).one(db).await?;
    let (live, completed) = state.map_or((0, 0), |s| (s.live_count, s.completed_count));
    let active = live.min(i64::from(slots.max(1)));
    Ok((
        live - active,
        active,
        completed,
        pool(db, merchant_id).await?,
    ))
}
