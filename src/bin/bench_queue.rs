//! Queue benchmark: completion latency and throughput on PostgreSQL with 1 000, 100 000 and
//! 1 000 000 waiting entries (the cost must not grow with the queue), and the engine alone.
//!
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release --bin bench_queue -- [completions per size]

use std::time::Instant;

use chrono::Utc;
use fenhong::{
    auth::wechat::WechatIdentity,
    db,
    rules::{
        programs::QueueRules,
        queue::{ActiveEntry, Completion},
        queue_book::QueueBook,
        scene::SceneSigner,
    },
    services::{accounts, members, merchants, orders, programs},
};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DatabaseConnection};

fn rules() -> QueueRules {
    QueueRules {
        enabled: true,
        active_slots: 3,
        queue_ratio: "0.40".parse().unwrap(),
        referral_ratio: "0.20".parse().unwrap(),
        second_level_ratio: Decimal::ZERO,
        cap_multiple: Decimal::ONE,
        min_order_amount: Decimal::ZERO,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let completions: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(300);
    let scratch = db::ScratchDatabase::create(
        &db::ScratchDatabase::server_from_env()?,
        "fenhong_bench_queue_",
    )
    .await?;
    let result = run(&scratch.url, completions).await;
    scratch.drop_now().await?;
    result?;
    engine_alone();
    Ok(())
}

async fn run(url: &str, completions: usize) -> anyhow::Result<()> {
    let conn = db::connect(url).await?;
    db::migrate(&conn).await?;
    println!(
        "completion through the service layer, PostgreSQL, {completions} completions per size"
    );
    println!(
        "{:>12} {:>12} {:>10} {:>10} {:>12}",
        "waiting", "fill (s)", "p50 ms", "p99 ms", "orders/s"
    );
    let mut rates = Vec::new();
    for waiting in [1_000i64, 100_000, 1_000_000] {
        let (merchant_id, store_id, user_id) = merchant(&conn, waiting).await?;
        let fill = Instant::now();
        prefill(&conn, merchant_id, user_id, waiting).await?;
        let fill = fill.elapsed().as_secs_f64();
        let mut latencies = Vec::with_capacity(completions);
        let started = Instant::now();
        for i in 0..completions {
            let input = orders::NewOrder {
                store_id,
                user_id: Some(user_id),
                member_code: None,
                amount: Decimal::new(10_000 + (i as i64 * 7919) % 90_000, 2),
                points_to_use: 0,
                idempotency_key: format!("q{waiting}-{i}"),
                complete: true,
            };
            let t = Instant::now();
            orders::record_order(&conn, merchant_id, None, input, Utc::now()).await?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let rate = completions as f64 / started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let pick =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        println!(
            "{waiting:>12} {fill:>12.1} {:>10.2} {:>10.2} {rate:>12.1}",
            pick(0.5),
            pick(0.99)
        );
        rates.push(rate);
    }
    println!(
        "throughput at 1 000 000 waiting ÷ at 1 000 waiting: {:.2}",
        rates[2] / rates[0]
    );
    let report = fenhong::ledger::audit(&conn).await?;
    anyhow::ensure!(report.is_clean(), "ledger audit failed:\n{report}");
    Ok(())
}

async fn merchant(conn: &DatabaseConnection, tag: i64) -> anyhow::Result<(i64, i64, i64)> {
    let now = Utc::now();
    let scenes = SceneSigner::new(b"bench");
    let (merchant, _) = merchants::create_merchant(
        conn,
        "Queue bench",
        None,
        &format!("queue.{tag}"),
        "bench-password",
        now,
    )
    .await?;
    let store = merchants::create_store(conn, &scenes, merchant.id, "Main", now).await?;
    let scene = merchants::store_code(conn, store.id).await?.scene;
    let identity = WechatIdentity {
        openid: format!("queue-bench-{tag}"),
        unionid: None,
    };
    let user = accounts::shopper_for(conn, &identity, now).await?;
    members::join_by_scene(conn, &scenes, user.id, &scene, now).await?;
    let patch = programs::ProgramsPatch {
        queue: Some(rules()),
        ..Default::default()
    };
    programs::configure(conn, merchant.id, None, patch, now).await?;
    Ok((merchant.id, store.id, user.id))
}

/// `waiting` live entries with large targets, written in one statement (their orders are
/// not needed to measure completions behind them).
async fn prefill(
    conn: &DatabaseConnection,
    merchant_id: i64,
    user_id: i64,
    waiting: i64,
) -> anyhow::Result<()> {
    conn.execute_unprepared(&format!(
        "INSERT INTO queue_entries (merchant_id, ordinal, order_id, user_id, target, received, status, created_at) \
         SELECT {merchant_id}, g, -({merchant_id} * 10000000 + g), {user_id}, 10000000, 0, 'LIVE', now() \
         FROM generate_series(1, {waiting}) AS g"
    ))
    .await?;
    conn.execute_unprepared(&format!(
        "INSERT INTO queue_states (merchant_id, next_ordinal, live_count, completed_count, updated_at) \
         VALUES ({merchant_id}, {}, {waiting}, 0, now())",
        waiting + 1
    ))
    .await?;
    conn.execute_unprepared("ANALYZE queue_entries").await?;
    Ok(())
}

/// The engine over an in-memory queue of a million entries.
fn engine_alone() {
    let mut book = QueueBook::new(rules());
    for i in 0..1_000_000 {
        book.complete(Completion {
            cash_base: Decimal::new(1_000_000 + i % 1000, 2),
            has_referrer: false,
            has_second_referrer: false,
        });
    }
    let n = 200_000;
    let started = Instant::now();
    for i in 0..n {
        book.complete(Completion {
            cash_base: Decimal::new(10_000 + (i * 7919) % 90_000, 2),
            has_referrer: i % 3 == 0,
            has_second_referrer: false,
        });
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _: Vec<ActiveEntry> = book.active();
    println!(
        "engine alone (in memory, {} live entries): {:.0} completions/s",
        book.live.len(),
        n as f64 / elapsed
    );
}
