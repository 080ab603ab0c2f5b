//! Rebate point lots: earning, paying with points, refunds, expiry and extension.

use chrono::{DateTime, Duration, Utc};
use entity::{payment_point_hold, point_lot, point_lot_use};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind, Cause, Owner, Posting},
    rules::{
        programs::RebateRules,
        rebate::{self, Lot},
    },
};

pub const REBATE_POINTS: &str = "REBATE_POINTS";
pub const POINTS_REDEEMED: &str = "POINTS_REDEEMED";
pub const POINTS_RESTORED: &str = "POINTS_RESTORED";
pub const POINTS_EXPIRED: &str = "POINTS_EXPIRED";
pub const POINTS_HELD: &str = "POINTS_HELD";
pub const POINTS_RELEASED: &str = "POINTS_RELEASED";

fn points(n: i64) -> Decimal {
    Decimal::from(n)
}

/// Credits the points an order earned, as one lot.
pub async fn earn(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    order_id: i64,
    earned: i64,
    rules: &RebateRules,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if earned <= 0 {
        return Ok(());
    }
    point_lot::Entity::insert(point_lot::ActiveModel {
        merchant_id: Set(merchant_id),
        user_id: Set(user_id),
        order_id: Set(Some(order_id)),
        points: Set(earned),
        remaining: Set(earned),
        expired: Set(0),
        expires_at: Set(rebate::expiry(now, rules)),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(tx)
    .await?;
    ledger::post(
        tx,
        merchant_id,
        Cause::order("ORDER_COMPLETED", order_id),
        &[
            Posting::new(
                Owner::Merchant,
                AccountKind::PointsIssuance,
                -points(earned),
                REBATE_POINTS,
            ),
            Posting::new(
                Owner::Shopper(user_id),
                AccountKind::Points,
                points(earned),
                REBATE_POINTS,
            ),
        ],
        now,
    )
    .await?;
    Ok(())
}

/// Takes `wanted` points from a shopper's lots, earliest-expiring first (each lot only if
/// it still holds what was read): which lots gave how many.
async fn take_from_lots(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    wanted: i64,
    now: DateTime<Utc>,
) -> AppResult<Vec<(i64, i64)>> {
    expire_due(tx, merchant_id, Some(user_id), now).await?;
    let lots: Vec<Lot> = point_lot::Entity::find()
        .filter(point_lot::Column::MerchantId.eq(merchant_id))
        .filter(point_lot::Column::UserId.eq(user_id))
        .filter(point_lot::Column::Remaining.gt(0))
        .all(tx)
        .await?
        .into_iter()
        .map(|l| Lot {
            id: l.id,
            remaining: l.remaining,
            expires_at: l.expires_at,
        })
        .collect();
    let takes = rebate::take_fifo(&lots, wanted).ok_or_else(|| {
        AppError::InsufficientFunds(format!("not enough points: {wanted} wanted"))
    })?;
    for (lot_id, take) in &takes {
        let updated = point_lot::Entity::update_many()
            .col_expr(
                point_lot::Column::Remaining,
                Expr::col(point_lot::Column::Remaining).sub(*take),
            )
            .filter(point_lot::Column::Id.eq(*lot_id))
            .filter(point_lot::Column::Remaining.gte(*take))
            .exec(tx)
            .await?;
        if updated.rows_affected != 1 {
            return Err(AppError::InsufficientFunds("not enough points".into()));
        }
    }
    Ok(takes)
}

/// Pays part of an order with points: earliest-expiring lots first.
pub async fn spend(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    order_id: i64,
    wanted: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for (lot_id, take) in take_from_lots(tx, merchant_id, user_id, wanted, now).await? {
        point_lot_use::Entity::insert(point_lot_use::ActiveModel {
            order_id: Set(order_id),
            lot_id: Set(lot_id),
            points: Set(take),
            ..Default::default()
        })
        .exec_without_returning(tx)
        .await?;
    }
    redeem(
        tx,
        merchant_id,
        user_id,
        AccountKind::Points,
        order_id,
        wanted,
        now,
    )
    .await
}

/// The ledger side of points paying for an order: out of the shopper's `from` (her points,
/// or those held for a payment) back to the merchant's issuance.
async fn redeem(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    from: AccountKind,
    order_id: i64,
    total: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    ledger::post(
        tx,
        merchant_id,
        Cause::order("ORDER_PAID_WITH_POINTS", order_id),
        &Posting::pair(
            (Owner::Shopper(user_id), from),
            (Owner::Merchant, AccountKind::PointsIssuance),
            points(total),
            POINTS_REDEEMED,
        ),
        now,
    )
    .await?;
    Ok(())
}

/// Holds points for a WeChat Pay payment: taken from the lots now (so they cannot be spent
/// twice) and kept apart until the payment is paid ([`spend_held`]) or closed
/// ([`release_held`]).
pub async fn hold(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    payment_id: i64,
    wanted: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for (lot_id, take) in take_from_lots(tx, merchant_id, user_id, wanted, now).await? {
        payment_point_hold::Entity::insert(payment_point_hold::ActiveModel {
            payment_id: Set(payment_id),
            lot_id: Set(lot_id),
            points: Set(take),
            ..Default::default()
        })
        .exec_without_returning(tx)
        .await?;
    }
    let shopper = Owner::Shopper(user_id);
    ledger::post(
        tx,
        merchant_id,
        Cause::payment("PAYMENT_POINTS_HELD", payment_id),
        &Posting::pair(
            (shopper, AccountKind::Points),
            (shopper, AccountKind::PointsOnHold),
            points(wanted),
            POINTS_HELD,
        ),
        now,
    )
    .await?;
    Ok(())
}

/// The points held for a paid payment pay for its order: the holds become the order's lot
/// uses (a refund gives them back to the same lots).
pub async fn spend_held(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    payment_id: i64,
    order_id: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let holds = take_holds(tx, payment_id).await?;
    let total: i64 = holds.iter().map(|h| h.points).sum();
    for held in &holds {
        point_lot_use::Entity::insert(point_lot_use::ActiveModel {
            order_id: Set(order_id),
            lot_id: Set(held.lot_id),
            points: Set(held.points),
            ..Default::default()
        })
        .exec_without_returning(tx)
        .await?;
    }
    if total > 0 {
        redeem(
            tx,
            merchant_id,
            user_id,
            AccountKind::PointsOnHold,
            order_id,
            total,
            now,
        )
        .await?;
    }
    Ok(total)
}

/// A closed payment's held points go back to the lots they came from.
pub async fn release_held(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    payment_id: i64,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let holds = take_holds(tx, payment_id).await?;
    let total: i64 = holds.iter().map(|h| h.points).sum();
    for held in &holds {
        point_lot::Entity::update_many()
            .col_expr(
                point_lot::Column::Remaining,
                Expr::col(point_lot::Column::Remaining).add(held.points),
            )
            .filter(point_lot::Column::Id.eq(held.lot_id))
            .exec(tx)
            .await?;
    }
    if total > 0 {
        let shopper = Owner::Shopper(user_id);
        ledger::post(
            tx,
            merchant_id,
            Cause::payment("PAYMENT_POINTS_RELEASED", payment_id),
            &Posting::pair(
                (shopper, AccountKind::PointsOnHold),
                (shopper, AccountKind::Points),
                points(total),
                POINTS_RELEASED,
            ),
            now,
        )
        .await?;
    }
    Ok(total)
}

/// A payment's holds, removed: the caller turns them into lot uses or gives them back.
async fn take_holds(
    tx: &impl ConnectionTrait,
    payment_id: i64,
) -> AppResult<Vec<payment_point_hold::Model>> {
    let holds = payment_point_hold::Entity::find()
        .filter(payment_point_hold::Column::PaymentId.eq(payment_id))
        .all(tx)
        .await?;
    payment_point_hold::Entity::delete_many()
        .filter(payment_point_hold::Column::PaymentId.eq(payment_id))
        .exec(tx)
        .await?;
    Ok(holds)
}

/// Gives a refunded order's points back to the lots they came from.
pub async fn restore(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    order_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let uses = point_lot_use::Entity::find()
        .filter(point_lot_use::Column::OrderId.eq(order_id))
        .order_by_asc(point_lot_use::Column::LotId)
        .all(tx)
        .await?;
    let mut total = 0;
    for used in &uses {
        point_lot::Entity::update_many()
            .col_expr(
                point_lot::Column::Remaining,
                Expr::col(point_lot::Column::Remaining).add(used.points),
            )
            .filter(point_lot::Column::Id.eq(used.lot_id))
            .exec(tx)
            .await?;
        total += used.points;
    }
    ledger::post(
        tx,
        merchant_id,
        Cause::order("ORDER_REFUNDED", order_id),
        &[
            Posting::new(
                Owner::Merchant,
                AccountKind::PointsIssuance,
                -points(total),
                POINTS_RESTORED,
            ),
            Posting::new(
                Owner::Shopper(user_id),
                AccountKind::Points,
                points(total),
                POINTS_RESTORED,
            ),
        ],
        now,
    )
    .await?;
    Ok(())
}

/// Expires the unspent points of lots whose time has come (of one shopper, or of all of a
/// merchant's shoppers). Each lot is taken only if nobody changed it meanwhile, so two
/// instances sweeping at once expire it once. Returns the points expired.
pub async fn expire_due(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<(i64, Vec<i64>)> {
    let mut query = point_lot::Entity::find()
        .filter(point_lot::Column::MerchantId.eq(merchant_id))
        .filter(point_lot::Column::Remaining.gt(0))
        .filter(point_lot::Column::ExpiresAt.lte(now))
        .order_by_asc(point_lot::Column::Id)
        .limit(1000);
    if let Some(user_id) = user_id {
        query = query.filter(point_lot::Column::UserId.eq(user_id));
    }
    let mut total = 0;
    let mut users = Vec::new();
    for lot in query.all(db).await? {
        let taken = point_lot::Entity::update_many()
            .col_expr(point_lot::Column::Remaining, Expr::value(0))
            .col_expr(
                point_lot::Column::Expired,
                Expr::col(point_lot::Column::Expired).add(lot.remaining),
            )
            .filter(point_lot::Column::Id.eq(lot.id))
            .filter(point_lot::Column::Remaining.eq(lot.remaining))
            .exec(db)
            .await?;
        if taken.rows_affected != 1 {
            continue;
        }
        ledger::post(
            db,
            merchant_id,
            Cause {
                kind: "POINTS_EXPIRY",
                memo: Some(format!("lot {}", lot.id)),
                ..Default::default()
            },
            &[
                Posting::new(
                    Owner::Shopper(lot.user_id),
                    AccountKind::Points,
                    -points(lot.remaining),
                    POINTS_EXPIRED,
                ),
                Posting::new(
                    Owner::Merchant,
                    AccountKind::PointsIssuance,
                    points(lot.remaining),
                    POINTS_EXPIRED,
                ),
            ],
            now,
        )
        .await?;
        total += lot.remaining;
        users.push(lot.user_id);
    }
    users.sort_unstable();
    users.dedup();
    Ok((total, users))
}

/// Moves the expiry of every live lot of the merchant `days` later. Returns the lots extended.
pub async fn extend_expiry(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    days: i32,
    now: DateTime<Utc>,
) -> AppResult<i32> {
    if !(1..=3650).contains(&days) {
        return Err(AppError::invalid("days must be between 1 and 3650"));
    }
    let live = point_lot::Entity::find()
        .filter(point_lot::Column::MerchantId.eq(merchant_id))
        .filter(point_lot::Column::Remaining.gt(0))
        .filter(Condition::all().add(point_lot::Column::ExpiresAt.gt(now)))
        .all(db)
        .await?;
    let mut extended = 0;
    for lot in live {
        let Some(expires_at) = lot.expires_at else {
            continue;
        };
        point_lot::Entity::update_many()
            .col_expr(
                point_lot::Column::ExpiresAt,
                Expr::value(expires_at + Duration::days(days.into())),
            )
            .filter(point_lot::Column::Id.eq(lot.id))
            .exec(db)
            .await?;
        extended += 1;
    }
    Ok(extended)
}
