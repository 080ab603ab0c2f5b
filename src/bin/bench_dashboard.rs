//! Dashboard benchmark: a merchant with 1 000 000 completed orders (and a rebate posting
//! pair for each) over a year on PostgreSQL; times the dashboard for 30 days and for the
//! whole year.
//!
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release --bin bench_dashboard -- [orders]

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use fenhong::{db, services::dashboard};
use sea_orm::ConnectionTrait;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let orders: i64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let scratch = db::ScratchDatabase::create(
        &db::ScratchDatabase::server_from_env()?,
        "fenhong_bench_dashboard_",
    )
    .await?;
    let result = run(&scratch.url, orders).await;
    scratch.drop_now().await?;
    result
}

async fn run(url: &str, orders: i64) -> anyhow::Result<()> {
    let conn = db::connect(url).await?;
    db::migrate(&conn).await?;
    let fill = Instant::now();
    // One merchant, one store, 10 000 members; `orders` completed orders spread over 2026,
    // each with its rebate postings (merchant and shopper side) in one transaction.
    conn.execute_unprepared(
        "INSERT INTO merchants (id, name, created_at) VALUES (1, 'Bench', '2026-01-01');
         INSERT INTO stores (id, merchant_id, name, created_at) VALUES (1, 1, 'Main', '2026-01-01');
         INSERT INTO users (id, openid, created_at) SELECT g, 'bench-' || g, '2026-01-01' FROM generate_series(1, 10000) g;
         INSERT INTO memberships (user_id, merchant_id, store_id, referrer_id, member_code, joined_at)
           SELECT g, 1, 1, CASE WHEN g > 1 AND g % 3 = 0 THEN g - 1 END, lpad(g::text, 8, '0'),
                  timestamptz '2026-01-01' + (g % 365) * interval '1 day' FROM generate_series(1, 10000) g;
         INSERT INTO ledger_accounts (id, merchant_id, owner_kind, owner_id, kind, unit, balance, non_negative, created_at)
           VALUES (1, 1, 'MERCHANT', 0, 'POINTS_ISSUANCE', 'POINTS', 0, false, '2026-01-01');",
    )
    .await?;
    conn.execute_unprepared(&format!(
        "INSERT INTO orders (merchant_id, store_id, user_id, amount, cash_paid, points_used, status, idempotency_key, fingerprint, program_version, created_at, completed_at)
           SELECT 1, 1, 1 + g % 10000, 1000 + g % 90000, 1000 + g % 90000, 0, 'COMPLETED', 'k' || g, '', 1,
                  timestamptz '2026-01-01' + (g % 525600) * interval '1 minute', timestamptz '2026-01-01' + (g % 525600) * interval '1 minute'
           FROM generate_series(1, {orders}) g;
         INSERT INTO ledger_transactions (id, merchant_id, cause, order_id, created_at)
           SELECT g, 1, 'ORDER_COMPLETED', g, timestamptz '2026-01-01' + (g % 525600) * interval '1 minute' FROM generate_series(1, {orders}) g;
         INSERT INTO ledger_postings (transaction_id, account_id, merchant_id, unit, amount, kind, order_id, created_at)
           SELECT g, 1, 1, 'POINTS', s * ((1000 + g % 90000) / 2000), 'REBATE_POINTS', g, timestamptz '2026-01-01' + (g % 525600) * interval '1 minute'
           FROM generate_series(1, {orders}) g, (VALUES (-1), (1)) AS side(s);
         ANALYZE;"
    ))
    .await?;
    println!(
        "filled {orders} orders, {} postings in {:.1} s",
        orders * 2,
        fill.elapsed().as_secs_f64()
    );
    let year = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for (label, from, to) in [
        (
            "30 days",
            year + Duration::days(100),
            year + Duration::days(130),
        ),
        ("365 days", year, year + Duration::days(365)),
    ] {
        let mut times = Vec::new();
        let mut gmv = Default::default();
        for _ in 0..5 {
            let started = Instant::now();
            let d =
                dashboard::dashboard(&conn, 1, chrono_tz::Asia::Shanghai, from, to, None).await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            gmv = d.gmv;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "dashboard over {label}: median {:.1} ms, best {:.1} ms (GMV {gmv})",
            times[2], times[0]
        );
    }
    Ok(())
}
