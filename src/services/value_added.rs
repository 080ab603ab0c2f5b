//! Value-added points in storage: minting on completion, sales, injections, the price path.
//! The pool is the `VA_POOL` ledger account and the supply is what `VA_ISSUANCE` has issued,
//! so the state is always what the ledger says. Every change runs under the merchant's
//! queue lock, one at a time.

use chrono::{DateTime, Utc};
use entity::{order, va_price_point};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use super::{members, programs, queue};
use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind, Cause, Owner, Posting},
    rules::{
        money::{self, Unit},
        programs::ValueAddedRules,
        value_added::{self as rules, Pool, Sale},
    },
};

pub async fn pool_of(db: &impl ConnectionTrait, merchant_id: i64) -> AppResult<Pool> {
    let issued = ledger::balance(db, merchant_id, Owner::Merchant, AccountKind::VaIssuance).await?;
    Ok(Pool {
        cash: ledger::balance(db, merchant_id, Owner::Merchant, AccountKind::VaPool).await?,
        // The issuance account is negative by the points outstanding (and never "-0").
        supply: if issued.is_zero() {
            Decimal::new(0, 4)
        } else {
            -issued
        },
    })
}

pub async fn holding(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<Decimal> {
    ledger::balance(
        db,
        merchant_id,
        Owner::Shopper(user_id),
        AccountKind::VaPoints,
    )
    .await
}

async fn record_price(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    rules: &ValueAddedRules,
    cause: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let pool = pool_of(tx, merchant_id).await?;
    va_price_point::Entity::insert(va_price_point::ActiveModel {
        merchant_id: Set(merchant_id),
        at: Set(now),
        price: Set(Unit::VaPoints.to_minor(pool.price(rules)).unwrap_or(0)),
        pool: Set(Unit::Cny.to_minor(pool.cash).unwrap_or(0)),
        supply: Set(Unit::VaPoints.to_minor(pool.supply).unwrap_or(0)),
        cause: Set(cause.into()),
        ..Default::default()
    })
    .exec_without_returning(tx)
    .await?;
    Ok(())
}

fn sale_postings(user_id: i64, sale: &Sale, kind: &'static str) -> Vec<Posting> {
    vec![
        Posting::new(
            Owner::Shopper(user_id),
            AccountKind::VaPoints,
            -sale.points,
            kind,
        ),
        Posting::new(Owner::Merchant, AccountKind::VaIssuance, sale.points, kind),
        Posting::new(Owner::Merchant, AccountKind::VaPool, -sale.net, kind),
        Posting::new(Owner::Shopper(user_id), AccountKind::Cash, sale.net, kind),
    ]
}

/// Mints for a completed order (inside its transaction, under the merchant lock), then
/// runs the forced exit if the shopper's holding reached the threshold.
pub async fn settle_mint(
    tx: &impl ConnectionTrait,
    rules: &ValueAddedRules,
    order: &order::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let merchant_id = order.merchant_id;
    let pool = pool_of(tx, merchant_id).await?;
    let minted = rules::mint(
        rules,
        pool,
        Unit::Cny.from_minor(super::orders::reward_base(order)),
    );
    if minted.pool_in.is_zero() && minted.points.is_zero() {
        return Ok(());
    }
    let user = Owner::Shopper(order.user_id);
    ledger::post(
        tx,
        merchant_id,
        Cause::order("ORDER_COMPLETED", order.id),
        &[
            Posting::new(
                Owner::Merchant,
                AccountKind::RewardFunding,
                -minted.pool_in,
                "VALUE_ADDED_FUNDING",
            ),
            Posting::new(
                Owner::Merchant,
                AccountKind::VaPool,
                minted.pool_in,
                "VALUE_ADDED_POOL",
            ),
            Posting::new(
                Owner::Merchant,
                AccountKind::VaIssuance,
                -minted.points,
                "VALUE_ADDED_POINTS",
            ),
            Posting::new(
                user,
                AccountKind::VaPoints,
                minted.points,
                "VALUE_ADDED_POINTS",
            ),
        ],
        now,
    )
    .await?;
    record_price(tx, merchant_id, rules, "MINT", now).await?;
    let held = holding(tx, merchant_id, order.user_id).await?;
    if let Some(points) = rules::forced_exit(rules, held) {
        let sale = rules::sell(rules, pool_of(tx, merchant_id).await?, points);
        let mut cause = Cause::order("VA_FORCED_EXIT", order.id);
        cause.memo = Some(format!("forced exit of {points} points"));
        ledger::post(
            tx,
            merchant_id,
            cause,
            &sale_postings(order.user_id, &sale, "VA_FORCED_EXIT"),
            now,
        )
        .await?;
        record_price(tx, merchant_id, rules, "FORCED_EXIT", now).await?;
    }
    Ok(())
}

fn configured(rules: Option<ValueAddedRules>) -> AppResult<ValueAddedRules> {
    rules.ok_or_else(|| AppError::invalid("this merchant has no value-added program"))
}

/// A shopper sells value-added points back to the pool.
pub async fn sell(
    db: &DatabaseConnection,
    merchant_id: i64,
    user_id: i64,
    points: Decimal,
    now: DateTime<Utc>,
) -> AppResult<Sale> {
    if points <= Decimal::ZERO {
        return Err(AppError::invalid("points must be greater than zero"));
    }
    if points.normalize().scale() > 4 {
        return Err(AppError::invalid("points have at most 4 decimal places"));
    }
    if points > Decimal::from(1_000_000_000i64) {
        return Err(AppError::invalid("points must not exceed 1000000000"));
    }
    let mut points = points;
    points.rescale(4);
    members::find_membership(db, merchant_id, user_id)
        .await?
        .ok_or(AppError::NotFound("membership"))?;
    let sale = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                queue::lock_merchant(tx, merchant_id, now).await?;
                let rules = configured(programs::current(tx, merchant_id).await?.set.value_added)?;
                if holding(tx, merchant_id, user_id).await? < points {
                    return Err(AppError::InsufficientFunds(
                        "you hold fewer value-added points than that".into(),
                    ));
                }
                let sale = rules::sell(&rules, pool_of(tx, merchant_id).await?, points);
                let cause = Cause {
                    kind: "VA_SALE",
                    memo: Some(format!("sold {points} points")),
                    ..Default::default()
                };
                ledger::post(
                    tx,
                    merchant_id,
                    cause,
                    &sale_postings(user_id, &sale, "VA_SOLD"),
                    now,
                )
                .await?;
                record_price(tx, merchant_id, &rules, "SALE", now).await?;
                crate::live::outbox::emit(
                    tx,
                    merchant_id,
                    crate::live::EventKind::WalletsChanged,
                    vec![user_id],
                    None,
                    now,
                )
                .await?;
                Ok(sale)
            })
        })
        .await?;
    Ok(sale)
}

/// The merchant adds cash to the pool (the price rises).
pub async fn inject(
    db: &DatabaseConnection,
    merchant_id: i64,
    amount: Decimal,
    now: DateTime<Utc>,
) -> AppResult<Pool> {
    let amount = money::money(amount, "amount").map_err(AppError::InvalidInput)?;
    let pool = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                queue::lock_merchant(tx, merchant_id, now).await?;
                let rules = configured(programs::current(tx, merchant_id).await?.set.value_added)?;
                ledger::post(
                    tx,
                    merchant_id,
                    Cause {
                        kind: "VA_INJECTION",
                        ..Default::default()
                    },
                    &[
                        Posting::new(
                            Owner::Merchant,
                            AccountKind::RewardFunding,
                            -amount,
                            "VA_INJECTION",
                        ),
                        Posting::new(Owner::Merchant, AccountKind::VaPool, amount, "VA_INJECTION"),
                    ],
                    now,
                )
                .await?;
                record_price(tx, merchant_id, &rules, "INJECTION", now).await?;
                pool_of(tx, merchant_id).await
            })
        })
        .await?;
    Ok(pool)
}

/// The price path between two times, oldest first (at most 5000 points).
pub async fn history(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Vec<va_price_point::Model>> {
    if from > to {
        return Err(AppError::invalid("from must not be after to"));
    }
    Ok(va_price_point::Entity::find()
        .filter(va_price_point::Column::MerchantId.eq(merchant_id))
        .filter(va_price_point::Column::At.gte(from))
        .filter(va_price_point::Column::At.lte(to))
        .order_by_asc(va_price_point::Column::At)
        .order_by_asc(va_price_point::Column::Id)
        .limit(5000)
        .all(db)
        .await?)
}
