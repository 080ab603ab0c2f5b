//! The merchant dashboard: aggregates computed in SQL (nothing loads the orders), the same
//! on SQLite and PostgreSQL. Amounts come back in minor units and become decimals here.
//!
//! Definitions: an order counts when it completed inside `[from, to)` (GMV is the order
//! amount, points included). Rewards are the cash the queue and referral programs paid
//! (QUEUE_SHARE, REFERRAL, REFERRAL_SECOND_LEVEL postings) in the range; the payout ratio is
//! rewards ÷ GMV. Points redeemed are points spent on orders less points given back by
//! refunds. Liabilities are what the merchant owes shoppers now: their cash and the cash held
//! for pending withdrawals (not limited to the range or the store).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement, Value};

use crate::{
    error::{AppError, AppResult},
    rules::money::{floor4, Unit},
};

pub const MAX_DAYS: i64 = 400;

#[derive(Clone, Debug, PartialEq)]
pub struct DailyStats {
    pub day: NaiveDate,
    pub gmv: Decimal,
    pub orders: i64,
    pub new_members: i64,
    pub rewards: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReferrerStats {
    pub user_id: i64,
    pub referred: i64,
    pub rewards: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dashboard {
    pub gmv: Decimal,
    pub orders: i64,
    pub new_members: i64,
    pub referred_members: i64,
    pub queue_rewards: Decimal,
    pub referral_rewards: Decimal,
    pub points_issued: i64,
    pub points_redeemed: i64,
    pub points_expired: i64,
    pub payout_ratio: Decimal,
    pub liabilities: Decimal,
    pub daily: Vec<DailyStats>,
    pub top_referrers: Vec<ReferrerStats>,
}

/// A statement with `?` placeholders, numbered for PostgreSQL.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The merchant's days a range covers: each local date and the UTC instant it ends.
fn local_days(zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(NaiveDate, DateTime<Utc>)> {
    let first = from.with_timezone(&zone).date_naive();
    let last = (to - Duration::nanoseconds(1))
        .with_timezone(&zone)
        .date_naive();
    let mut days = Vec::new();
    let mut day = first;
    while day <= last {
        let next = day + Duration::days(1);
        days.push((next - Duration::days(1), start_of(zone, next)));
        day = next;
    }
    days
}

/// The UTC instant a local date starts (its first existing minute, should midnight fall in
/// a daylight-saving gap).
fn start_of(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut at = day.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(start) = zone.from_local_datetime(&at).earliest() {
            return start.with_timezone(&Utc);
        }
        at += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN))
}

/// The merchant's local day of a timestamp column, as `YYYY-MM-DD`, and the values it binds.
/// PostgreSQL converts with the zone itself; SQLite, which knows no zones, compares with the
/// instants the range's local days end.
fn day_of(
    backend: DbBackend,
    column: &str,
    zone: Tz,
    days: &[(NaiveDate, DateTime<Utc>)],
) -> (String, Vec<Value>) {
    match backend {
        // The zone's name comes from the tz database (parsed), never from a client verbatim.
        DbBackend::Postgres => (
            format!(
                "to_char({column} AT TIME ZONE '{}', 'YYYY-MM-DD')",
                zone.name()
            ),
            Vec::new(),
        ),
        _ => {
            let mut sql = String::from("CASE");
            let mut values = Vec::new();
            for (day, ends) in days {
                sql.push_str(&format!(
                    " WHEN {column} < ? THEN '{}'",
                    day.format("%Y-%m-%d")
                ));
                values.push(Value::from(*ends));
            }
            sql.push_str(" END");
            (sql, values)
        }
    }
}

#[derive(FromQueryResult)]
struct Totals {
    amount: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct KindSum {
    kind: String,
    total: i64,
}

#[derive(FromQueryResult)]
struct DayRow {
    day: String,
    amount: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct ReferrerRow {
    referrer_id: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct Total {
    total: i64,
}

/// The dashboard of `[from, to)`, its daily series in the merchant's days (`zone`).
pub async fn dashboard(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    store_id: Option<i64>,
) -> AppResult<Dashboard> {
    if from >= to {
        return Err(AppError::invalid("from must be before to"));
    }
    if to - from > Duration::days(MAX_DAYS) {
        return Err(AppError::InvalidInput(format!(
            "a dashboard covers at most {MAX_DAYS} days"
        )));
    }
    let b = db.get_database_backend();
    let range = |extra: Vec<Value>| {
        let mut values: Vec<Value> = vec![merchant_id.into(), from.into(), to.into()];
        values.extend(extra);
        values
    };
    let store_filter = |column: &str| match store_id {
        Some(_) => format!(" AND {column} = ?"),
        None => String::new(),
    };
    let store_value = || store_id.map(Value::from).into_iter().collect::<Vec<_>>();

    let orders_sql = format!(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount, COUNT(*) AS n FROM orders \
         WHERE merchant_id = ? AND status = 'COMPLETED' AND completed_at >= ? AND completed_at < ?{}",
        store_filter("store_id")
    );
    let totals = Totals::find_by_statement(statement(b, &orders_sql, range(store_value())))
        .one(db)
        .await?
        .unwrap_or(Totals { amount: 0, n: 0 });

    let members_sql = format!(
        "SELECT CAST(COUNT(referrer_id) AS BIGINT) AS amount, COUNT(*) AS n FROM memberships \
         WHERE merchant_id = ? AND joined_at >= ? AND joined_at < ?{}",
        store_filter("store_id")
    );
    let members = Totals::find_by_statement(statement(b, &members_sql, range(store_value())))
        .one(db)
        .await?
        .unwrap_or(Totals { amount: 0, n: 0 });

    // Postings of the range by kind (credits only: the shopper's or the pool's side); with a
    // store, only postings of that store's orders.
    let postings_sql = format!(
        "SELECT p.kind AS kind, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS total \
         FROM ledger_postings p {} \
         WHERE p.merchant_id = ? AND p.created_at >= ? AND p.created_at < ? AND p.amount > 0 \
         AND p.kind IN ('QUEUE_SHARE', 'REFERRAL', 'REFERRAL_SECOND_LEVEL', 'REBATE_POINTS', \
                        'POINTS_REDEEMED', 'POINTS_RESTORED', 'POINTS_EXPIRED'){} \
         GROUP BY p.kind",
        if store_id.is_some() {
            "JOIN orders o ON o.id = p.order_id"
        } else {
            ""
        },
        store_filter("o.store_id")
    );
    let sums = KindSum::find_by_statement(statement(b, &postings_sql, range(store_value())))
        .all(db)
        .await?;
    let sum = |kinds: &[&str]| -> i64 {
        sums.iter()
            .filter(|s| kinds.contains(&s.kind.as_str()))
            .map(|s| s.total)
            .sum()
    };
    let queue_fen = sum(&["QUEUE_SHARE"]);
    let referral_fen = sum(&["REFERRAL", "REFERRAL_SECOND_LEVEL"]);

    let liabilities_sql =
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total FROM ledger_accounts \
         WHERE merchant_id = ? AND owner_kind = 'USER' AND kind IN ('CASH', 'CASH_ON_HOLD')";
    let liabilities =
        Total::find_by_statement(statement(b, liabilities_sql, vec![merchant_id.into()]))
            .one(db)
            .await?
            .map_or(0, |t| t.total);

    // The daily series: every one of the merchant's days in the range, zeros included.
    let days = local_days(zone, from, to);
    let with_days = |day_values: Vec<Value>, rest: Vec<Value>| {
        let mut values = day_values;
        values.extend(rest);
        values
    };
    let (day, day_values) = day_of(b, "completed_at", zone, &days);
    let order_days_sql = format!(
        "SELECT {day} AS day, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS amount, COUNT(*) AS n FROM orders \
         WHERE merchant_id = ? AND status = 'COMPLETED' AND completed_at >= ? AND completed_at < ?{} \
         GROUP BY 1",
        store_filter("store_id"),
    );
    let order_days = DayRow::find_by_statement(statement(
        b,
        &order_days_sql,
        with_days(day_values, range(store_value())),
    ))
    .all(db)
    .await?;
    let (day, day_values) = day_of(b, "joined_at", zone, &days);
    let member_days_sql = format!(
        "SELECT {day} AS day, CAST(0 AS BIGINT) AS amount, COUNT(*) AS n FROM memberships \
         WHERE merchant_id = ? AND joined_at >= ? AND joined_at < ?{} GROUP BY 1",
        store_filter("store_id"),
    );
    let member_days = DayRow::find_by_statement(statement(
        b,
        &member_days_sql,
        with_days(day_values, range(store_value())),
    ))
    .all(db)
    .await?;
    let (day, day_values) = day_of(b, "p.created_at", zone, &days);
    let reward_days_sql =
        format!(
        "SELECT {day} AS day, CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS amount, COUNT(*) AS n \
         FROM ledger_postings p {} \
         WHERE p.merchant_id = ? AND p.created_at >= ? AND p.created_at < ? AND p.amount > 0 \
         AND p.kind IN ('QUEUE_SHARE', 'REFERRAL', 'REFERRAL_SECOND_LEVEL'){} GROUP BY 1",
        if store_id.is_some() { "JOIN orders o ON o.id = p.order_id" } else { "" },
        store_filter("o.store_id"),
    );
    let reward_days = DayRow::find_by_statement(statement(
        b,
        &reward_days_sql,
        with_days(day_values, range(store_value())),
    ))
    .all(db)
    .await?;
    let find =
        |rows: &[DayRow], day: &str| rows.iter().find(|r| r.day == day).map(|r| (r.amount, r.n));
    let mut daily = Vec::new();
    for (day, _) in days {
        let key = day.format("%Y-%m-%d").to_string();
        let (gmv, orders) = find(&order_days, &key).unwrap_or((0, 0));
        daily.push(DailyStats {
            day,
            gmv: Unit::Cny.from_minor(gmv),
            orders,
            new_members: find(&member_days, &key).map_or(0, |r| r.1),
            rewards: Unit::Cny.from_minor(find(&reward_days, &key).map_or(0, |r| r.0)),
        });
    }

    let referrers_sql = format!(
        "SELECT referrer_id, COUNT(*) AS n FROM memberships \
         WHERE merchant_id = ? AND joined_at >= ? AND joined_at < ? AND referrer_id IS NOT NULL{} \
         GROUP BY referrer_id ORDER BY n DESC, referrer_id LIMIT 10",
        store_filter("store_id")
    );
    let referrers =
        ReferrerRow::find_by_statement(statement(b, &referrers_sql, range(store_value())))
            .all(db)
            .await?;
    let mut top_referrers = Vec::new();
    for r in referrers {
        let rewards_sql = "SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS total FROM ledger_postings p \
             JOIN ledger_accounts a ON a.id = p.account_id \
             WHERE p.merchant_id = ? AND p.created_at >= ? AND p.created_at < ? \
             AND p.kind IN ('REFERRAL', 'REFERRAL_SECOND_LEVEL') AND a.owner_kind = 'USER' AND a.owner_id = ?";
        let rewards =
            Total::find_by_statement(statement(b, rewards_sql, range(vec![r.referrer_id.into()])))
                .one(db)
                .await?
                .map_or(0, |t| t.total);
        top_referrers.push(ReferrerStats {
            user_id: r.referrer_id,
            referred: r.n,
            rewards: Unit::Cny.from_minor(rewards),
        });
    }

    let gmv = Unit::Cny.from_minor(totals.amount);
    let rewards = Unit::Cny.from_minor(queue_fen + referral_fen);
    Ok(Dashboard {
        gmv,
        orders: totals.n,
        new_members: members.n,
        referred_members: members.amount,
        queue_rewards: Unit::Cny.from_minor(queue_fen),
        referral_rewards: Unit::Cny.from_minor(referral_fen),
        points_issued: sum(&["REBATE_POINTS"]),
        points_redeemed: sum(&["POINTS_REDEEMED"]) - sum(&["POINTS_RESTORED"]),
        points_expired: sum(&["POINTS_EXPIRED"]),
        payout_ratio: if gmv.is_zero() {
            Decimal::new(0, 4)
        } else {
            floor4(rewards / gmv)
        },
        liabilities: Unit::Cny.from_minor(liabilities),
        daily,
        top_referrers,
    })
}
