//! Rebate point lots: earning, paying with points, refunds, expiry and extension.

use chrono::{DateTime, Duration, Utc};
use entity::{point_lot, point_lot_use};
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

/// Pays part of an order with points: earliest-expiring lots first.
pub async fn spend(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    order_id: i64,
    wanted: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
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
    for (lot_id, take) in takes {
        let updated = point_lot::Entity::update_many()
            .col_expr(
                point_lot::Column::Remaining,
                Expr::col(point_lot::Column::Remaining).sub(take),
            )
            .filter(point_lot::Column::Id.eq(lot_id))
            .filter(point_lot::Column::Remaining.gte(take))
            .exec(tx)
            .await?;
        if updated.rows_affected != 1 {
            return Err(AppError::InsufficientFunds("not enough points".into()));
        }
        point_lot_use::Entity::insert(point_lot_use::ActiveModel {
            order_id: Set(order_id),
            lot_id: Set(lot_id),
            points: Set(take),
            ..Default::default()
        })
        .exec_without_returning(tx)
        .await?;
    }
    ledger::post(
        tx,
        merchant_id,
        Cause::order("ORDER_PAID_WITH_POINTS", order_id),
        &[
            Posting::new(
                Owner::Shopper(user_id),
                AccountKind::Points,
                -points(wanted),
                POINTS_REDEEMED,
            ),
            Posting::new(
                Owner::Merchant,
                AccountKind::PointsIssuance,
                points(wanted),
                POINTS_REDEEMED,
            ),
        ],
        now,
    )
    .await?;
    Ok(())
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
