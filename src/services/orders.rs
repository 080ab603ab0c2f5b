//! Orders: recording (idempotently), completing (where rewards are made), refunding.

use chrono::{DateTime, Utc};
use entity::{membership, order, refund, store};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::{Expr, OnConflict, Query},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, TransactionTrait,
};

use std::{collections::HashMap, sync::Arc};

use super::{
    batch_settle::CashCompletion,
    group_commit::{GroupCommit, Work},
    merchants, points, programs, queue,
};
use crate::{
    error::{AppError, AppResult},
    rules::{
        money::{self, Unit},
        rebate,
    },
};

pub const PAID: &str = "PAID";
pub const COMPLETED: &str = "COMPLETED";
pub const REFUNDED: &str = "REFUNDED";

/// What the till sends (`recordOrder`).
#[derive(Clone, Debug)]
pub struct NewOrder {
    pub store_id: i64,
    pub user_id: Option<i64>,
    pub member_code: Option<String>,
    pub amount: Decimal,
    pub points_to_use: i64,
    pub idempotency_key: String,
    pub complete: bool,
}

pub async fn find_order(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    order_id: i64,
) -> AppResult<order::Model> {
    order::Entity::find_by_id(order_id)
        .one(db)
        .await?
        .filter(|o| o.merchant_id == merchant_id)
        .ok_or(AppError::NotFound("order"))
}

/// The shopper the order is for: by `userId` or `memberCode`, a member of this merchant.
fn member_query(merchant_id: i64, input: &NewOrder) -> AppResult<Select<membership::Entity>> {
    let query = membership::Entity::find().filter(membership::Column::MerchantId.eq(merchant_id));
    match (&input.user_id, &input.member_code) {
        (Some(user_id), None) => Ok(query.filter(membership::Column::UserId.eq(*user_id))),
        (None, Some(code)) => Ok(query.filter(membership::Column::MemberCode.eq(code.trim()))),
        _ => Err(AppError::invalid(
            "give either userId or memberCode, not both",
        )),
    }
}

/// Stores and memberships already found for orders: a store never changes merchant and a
/// membership (its member code too) never goes away, so a pair once found stays right.
#[derive(Default)]
pub struct KnownMembers(std::sync::Mutex<HashMap<(i64, i64, MemberKey), i64>>);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum MemberKey {
    User(i64),
    Code(String),
}

/// Past this many pairs the cache starts again (it only saves a lookup).
const KNOWN_MEMBERS_MAX: usize = 100_000;

impl KnownMembers {
    fn key(merchant_id: i64, input: &NewOrder) -> Option<(i64, i64, MemberKey)> {
        let member = match (&input.user_id, &input.member_code) {
            (Some(user_id), None) => MemberKey::User(*user_id),
            (None, Some(code)) => MemberKey::Code(code.trim().to_owned()),
            _ => return None,
        };
        Some((merchant_id, input.store_id, member))
    }

    /// The user id of the order's member, if this store and member were found before.
    fn get(&self, merchant_id: i64, input: &NewOrder) -> Option<i64> {
        let key = Self::key(merchant_id, input)?;
        self.0.lock().ok()?.get(&key).copied()
    }

    fn insert(&self, merchant_id: i64, input: &NewOrder, user_id: i64) {
        let (Some(key), Ok(mut known)) = (Self::key(merchant_id, input), self.0.lock()) else {
            return;
        };
        if known.len() >= KNOWN_MEMBERS_MAX {
            known.clear();
        }
        known.insert(key, user_id);
    }
}

/// The order's store (of this merchant) and member's user id, in one statement when both
/// are right (none when found before); otherwise each is looked up to say which is not
/// found.
async fn store_and_member(
    db: &impl ConnectionTrait,
    known: &KnownMembers,
    merchant_id: i64,
    input: &NewOrder,
) -> AppResult<(i64, i64)> {
    if let Some(user_id) = known.get(merchant_id, input) {
        return Ok((input.store_id, user_id));
    }
    let (store_id, member) = find_store_and_member(db, merchant_id, input).await?;
    known.insert(merchant_id, input, member.user_id);
    Ok((store_id, member.user_id))
}

async fn find_store_and_member(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    input: &NewOrder,
) -> AppResult<(i64, membership::Model)> {
    let at_store = member_query(merchant_id, input)?
        .filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(store::Entity)
                .and_where(store::Column::Id.eq(input.store_id))
                .and_where(store::Column::MerchantId.eq(merchant_id))
                .to_owned(),
        ))
        .one(db)
        .await?;
    if let Some(member) = at_store {
        return Ok((input.store_id, member));
    }
    let store = merchants::find_store(db, input.store_id).await?;
    if store.merchant_id != merchant_id {
        return Err(AppError::NotFound("store"));
    }
    let member = member_query(merchant_id, input)?
        .one(db)
        .await?
        .ok_or(AppError::NotFound("member of this merchant"))?;
    Ok((store.id, member))
}

/// Records a purchase. The same idempotency key with the same content returns the first
/// order; with other content it is a `CONFLICT`. With `complete`, it completes at once.
pub async fn record_order(
    db: &DatabaseConnection,
    merchant_id: i64,
    staff_id: Option<i64>,
    input: NewOrder,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    let alone = GroupCommit::new(false, 1);
    record_order_grouped(&alone, db, merchant_id, staff_id, input, now).await
}

/// [`record_order`] through the merchant's group commit: settled in one transaction with
/// the merchant's other orders that arrive meanwhile, with the same result.
pub async fn record_order_grouped(
    commits: &GroupCommit,
    db: &DatabaseConnection,
    merchant_id: i64,
    staff_id: Option<i64>,
    input: NewOrder,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    let amount = money::money(input.amount, "amount").map_err(AppError::InvalidInput)?;
    let key = input.idempotency_key.trim().to_owned();
    if key.is_empty() || key.len() > 64 {
        return Err(AppError::invalid(
            "idempotencyKey must be 1 to 64 characters",
        ));
    }
    if input.points_to_use < 0 {
        return Err(AppError::invalid("pointsToUse must not be negative"));
    }
    let (store_id, user_id) =
        store_and_member(db, &commits.known_members, merchant_id, &input).await?;
    let fingerprint = format!(
        "store={};user={};amount={};points={};complete={}",
        store_id, user_id, amount, input.points_to_use, input.complete
    );

    let recording = Recording {
        merchant_id,
        store_id,
        user_id,
        amount,
        points: PointsPaying::FromLots(input.points_to_use),
        idempotency_key: key,
        fingerprint,
        recorded_by: staff_id,
        complete: input.complete,
    };
    // Recorded and completed at once, paid in cash: a group commit settles a run of these in
    // memory and writes each table once (`batch_settle`).
    let cash =
        (recording.complete && matches!(recording.points, PointsPaying::FromLots(0))).then(|| {
            CashCompletion {
                recording: recording.clone(),
                now,
            }
        });
    let work: Work = Arc::new(move |tx| {
        let recording = recording.clone();
        Box::pin(async move { record_in(tx, recording, now).await })
    });
    commits.run(db, merchant_id, work, cash).await
}

/// How an order's points are paid.
#[derive(Clone, Copy, Debug)]
pub enum PointsPaying {
    /// Taken from the shopper's lots now (the till).
    FromLots(i64),
    /// Already held for this WeChat Pay payment (`points` of them), which collected
    /// `cash_paid` fen: checked when the payment was created, so never refused now.
    Held {
        payment_id: i64,
        points: i64,
        cash_paid: i64,
    },
}

impl PointsPaying {
    fn points(self) -> i64 {
        match self {
            Self::FromLots(points) | Self::Held { points, .. } => points,
        }
    }
}

/// An order to record, checked by the caller (store, member, amount, key).
#[derive(Clone, Debug)]
pub struct Recording {
    pub merchant_id: i64,
    pub store_id: i64,
    pub user_id: i64,
    pub amount: Decimal,
    pub points: PointsPaying,
    pub idempotency_key: String,
    /// What was asked for, to tell a replay from a different order under one key.
    pub fingerprint: String,
    pub recorded_by: Option<i64>,
    pub complete: bool,
}

/// Records an order in the caller's transaction, the one path for the till and for WeChat
/// Pay: the same key with the same fingerprint returns the first order (and does nothing
/// more); with another it is a `CONFLICT`.
pub async fn record_in(
    tx: &impl ConnectionTrait,
    r: Recording,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    crate::db::claim_writer(tx).await?;
    // Taken before any account is touched, as every completion takes it.
    let queue_state = queue::lock_merchant(tx, r.merchant_id, now).await?;
    let programs = programs::current(tx, r.merchant_id).await?;
    let points_to_use = r.points.points();
    let mut cash_paid = r.amount;
    if let PointsPaying::Held {
        cash_paid: paid, ..
    } = r.points
    {
        cash_paid = Unit::Cny.from_minor(paid);
    } else if points_to_use > 0 {
        let rules = programs
            .set
            .rebate
            .as_ref()
            .ok_or_else(|| AppError::invalid("this merchant does not take points"))?;
        let cap = rebate::max_points_usable(r.amount, rules);
        if points_to_use > cap {
            return Err(AppError::InvalidInput(format!(
                "at most {cap} points may pay for this order"
            )));
        }
        cash_paid -= rebate::value_of(points_to_use, rules);
    }
    let inserted = order::Entity::insert(order::ActiveModel {
        merchant_id: Set(r.merchant_id),
        store_id: Set(r.store_id),
        user_id: Set(r.user_id),
        amount: Set(to_fen(r.amount)?),
        cash_paid: Set(to_fen(cash_paid)?),
        points_used: Set(points_to_use),
        status: Set(PAID.into()),
        idempotency_key: Set(r.idempotency_key.clone()),
        fingerprint: Set(r.fingerprint.clone()),
        recorded_by: Set(r.recorded_by),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([order::Column::MerchantId, order::Column::IdempotencyKey])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(tx)
    .await?;
    let recorded = order::Entity::find()
        .filter(order::Column::MerchantId.eq(r.merchant_id))
        .filter(order::Column::IdempotencyKey.eq(&r.idempotency_key))
        .one(tx)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("order vanished")))?;
    if inserted == 0 {
        return if recorded.fingerprint == r.fingerprint {
            Ok(recorded)
        } else {
            Err(AppError::conflict(
                "this idempotencyKey was used for a different order",
            ))
        };
    }
    match r.points {
        PointsPaying::FromLots(0) => {}
        PointsPaying::FromLots(wanted) => {
            points::spend(tx, r.merchant_id, r.user_id, recorded.id, wanted, now).await?;
        }
        PointsPaying::Held { payment_id, .. } => {
            // Nothing to take when the payment held no points.
            points::spend_held(tx, r.merchant_id, r.user_id, payment_id, recorded.id, now).await?;
        }
    }
    if r.complete {
        // Just recorded under the lock this transaction holds, with these programs: no
        // refund can be under way and nothing else can have changed it.
        return complete_locked(tx, recorded, &queue_state, &programs, now).await;
    }
    crate::live::outbox::emit(
        tx,
        r.merchant_id,
        crate::live::EventKind::OrderPaid {
            order_id: recorded.id,
            user_id: r.user_id,
            amount: r.amount,
        },
        vec![r.user_id],
        None,
        now,
    )
    .await?;
    Ok(recorded)
}

/// What an order's rewards are computed on (fen): the cash paid less what WeChat Pay
/// refunds gave back before it completed (RULES.md "Payments and refunds").
pub fn reward_base(order: &order::Model) -> i64 {
    order.cash_paid - order.refunded_amount
}

pub fn to_fen(amount: Decimal) -> AppResult<i64> {
    Unit::Cny
        .to_minor(amount)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("{amount} is not a whole number of fen")))
}

/// Completes a PAID order in the caller's transaction: marks it (only if still PAID, so
/// no order is completed twice), then lets every reward program settle it.
pub async fn complete_in(
    tx: &impl ConnectionTrait,
    order_id: i64,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    crate::db::claim_writer(tx).await?;
    let current = order::Entity::find_by_id(order_id)
        .one(tx)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    // One merchant's completions run one at a time, in the order they take this lock.
    let queue_state = queue::lock_merchant(tx, current.merchant_id, now).await?;
    let refunding = refund::Entity::find()
        .filter(refund::Column::OrderId.eq(order_id))
        .filter(refund::Column::Status.eq(super::payments::REFUND_PROCESSING))
        .count(tx)
        .await?;
    if refunding > 0 {
        return Err(AppError::conflict(
            "a refund of this order is still being processed; it completes once the refund settles",
        ));
    }
    let programs = programs::current(tx, current.merchant_id).await?;
    // Read again under the lock: a refund settled meanwhile changes the reward base.
    let current = order::Entity::find_by_id(order_id)
        .one(tx)
        .await?
        .ok_or(AppError::NotFound("order"))?;
    complete_locked(tx, current, &queue_state, &programs, now).await
}

/// Marks a PAID order completed and lets every reward program settle it; the caller's
/// transaction holds the merchant's lock and read `current` under it.
async fn complete_locked(
    tx: &impl ConnectionTrait,
    current: order::Model,
    queue_state: &entity::queue_state::Model,
    programs: &programs::Versioned,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    let marked = order::Entity::update_many()
        .col_expr(order::Column::Status, COMPLETED.into())
        .col_expr(order::Column::CompletedAt, Some(now).into())
        .col_expr(order::Column::ProgramVersion, Some(programs.version).into())
        .filter(order::Column::Id.eq(current.id))
        .filter(order::Column::Status.eq(PAID))
        .exec(tx)
        .await?;
    if marked.rows_affected != 1 {
        return Err(match current.status.as_str() {
            COMPLETED => AppError::conflict("the order is already completed"),
            REFUNDED => AppError::conflict("the order was refunded and cannot be completed"),
            _ => AppError::NotFound("order"),
        });
    }
    let completed = order::Model {
        status: COMPLETED.into(),
        completed_at: Some(now),
        program_version: Some(programs.version),
        ..current
    };
    super::completion::settle(tx, programs, queue_state, &completed, now).await?;
    Ok(completed)
}

pub async fn complete_order(
    db: &DatabaseConnection,
    merchant_id: i64,
    order_id: i64,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    complete_order_grouped(&GroupCommit::new(false, 1), db, merchant_id, order_id, now).await
}

/// [`complete_order`] through the merchant's group commit.
pub async fn complete_order_grouped(
    commits: &GroupCommit,
    db: &DatabaseConnection,
    merchant_id: i64,
    order_id: i64,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    let order = find_order(db, merchant_id, order_id).await?;
    let work: Work = Arc::new(move |tx| Box::pin(complete_in(tx, order.id, now)));
    commits.run(db, merchant_id, work, None).await
}

/// Refunds a PAID order: no rewards, and points it used go back to their lots. A completed
/// order is final.
pub async fn refund_order(
    db: &DatabaseConnection,
    merchant_id: i64,
    order_id: i64,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<order::Model> {
    let reason = super::clean_note(reason, "refund reason")?;
    let order = find_order(db, merchant_id, order_id).await?;
    let refunded = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                queue::lock_merchant(tx, merchant_id, now).await?;
                let marked = order::Entity::update_many()
                    .col_expr(order::Column::Status, REFUNDED.into())
                    .col_expr(order::Column::RefundedAt, Some(now).into())
                    .col_expr(order::Column::RefundReason, reason.into())
                    .filter(order::Column::Id.eq(order.id))
                    .filter(order::Column::Status.eq(PAID))
                    .exec(tx)
                    .await?;
                if marked.rows_affected != 1 {
                    let status = order::Entity::find_by_id(order.id).one(tx).await?.map(|o| o.status);
                    return Err(match status.as_deref() {
                        Some(COMPLETED) => AppError::conflict(
                            "a completed order is final and cannot be refunded through the reward system",
                        ),
                        _ => AppError::conflict("the order is already refunded"),
                    });
                }
                if order.points_used > 0 {
                    points::restore(tx, merchant_id, order.user_id, order.id, now).await?;
                }
                // The feed shows the refund (as it does WeChat Pay's); her wallet re-reads.
                let refunded = crate::live::EventKind::OrderRefunded {
                    order_id: order.id,
                    user_id: order.user_id,
                    amount: Unit::Cny.from_minor(order.amount),
                };
                crate::live::outbox::emit(tx, merchant_id, refunded, vec![order.user_id], None, now).await?;
                order::Entity::find_by_id(order.id)
                    .one(tx)
                    .await?
                    .ok_or(AppError::NotFound("order"))
            })
        })
        .await?;
    Ok(refunded)
}

/// Which of a merchant's orders a page shows (every one when all are `None`).
#[derive(Debug, Default)]
pub struct OrderFilter<'a> {
    pub status: Option<&'a str>,
    pub store_id: Option<i64>,
    pub user_id: Option<i64>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// A page of the merchant's orders, newest first.
pub async fn orders_page(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    filter: &OrderFilter<'_>,
    before: Option<i64>,
    limit: u64,
) -> AppResult<Vec<order::Model>> {
    let mut query = order::Entity::find()
        .filter(order::Column::MerchantId.eq(merchant_id))
        .order_by_desc(order::Column::Id)
        .limit(limit);
    if let Some(status) = filter.status {
        query = query.filter(order::Column::Status.eq(status));
    }
    if let Some(store_id) = filter.store_id {
        query = query.filter(order::Column::StoreId.eq(store_id));
    }
    if let Some(user_id) = filter.user_id {
        query = query.filter(order::Column::UserId.eq(user_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(order::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(order::Column::CreatedAt.lt(to));
    }
    if let Some(before) = before {
        query = query.filter(order::Column::Id.lt(before));
    }
    Ok(query.all(db).await?)
}

/// Completes PAID orders older than their merchant's `autoCompleteDays`. Safe on several
/// instances at once: an order another instance completed first is skipped.
pub async fn auto_complete_due(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let merchants: Vec<i64> = order::Entity::find()
        .select_only()
        .column(order::Column::MerchantId)
        .distinct()
        .filter(order::Column::Status.eq(PAID))
        .into_tuple()
        .all(db)
        .await?;
    let mut completed = 0;
    for merchant_id in merchants {
        let days = programs::current(db, merchant_id)
            .await?
            .set
            .auto_complete_days();
        let cutoff = now - chrono::Duration::days(days.into());
        let due: Vec<i64> = order::Entity::find()
            .select_only()
            .column(order::Column::Id)
            .filter(order::Column::MerchantId.eq(merchant_id))
            .filter(order::Column::Status.eq(PAID))
            .filter(order::Column::CreatedAt.lte(cutoff))
            .order_by_asc(order::Column::CreatedAt)
            .limit(1000)
            .into_tuple()
            .all(db)
            .await?;
        for order_id in due {
            let result = db
                .transaction::<_, _, AppError>(|tx| {
                    Box::pin(async move { complete_in(tx, order_id, now).await })
                })
                .await;
            match result.map_err(AppError::from) {
                Ok(_) => completed += 1,
                Err(AppError::Conflict(_)) => {} // completed or refunded meanwhile
                Err(other) => return Err(other),
            }
        }
    }
    Ok(completed)
}
