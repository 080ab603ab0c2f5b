//! Order-completion benchmark: completes orders through the service layer on PostgreSQL
//! (one database transaction each: order, rebate lot, balanced ledger postings) and prints
//! orders/s beside pgbench's TPC-B-like tps measured on the same server in the same run.
//!
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release --bin bench_orders -- [orders] [concurrency]

use std::{process::Command, sync::Arc, time::Instant};

use chrono::Utc;
use fenhong::{
    auth::wechat::WechatIdentity,
    db,
    rules::{programs::RebateRules, scene::SceneSigner},
    services::{accounts, members, merchants, orders, programs},
};
use rust_decimal::Decimal;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(8);
    let scratch =
        db::ScratchDatabase::create(&db::ScratchDatabase::server_from_env()?, "fenhong_bench_")
            .await?;
    let url = scratch.url.clone();
    let result = run(&url, total, concurrency).await;
    let pgbench = pgbench(&url, concurrency);

    scratch.drop_now().await?;
    let (orders_per_sec, p50, p99) = result?;
    println!("fenhong order completion: {total} orders, {concurrency} concurrent");
    println!("  throughput      {orders_per_sec:>10.1} orders/s");
    println!("  latency p50     {p50:>10.2} ms");
    println!("  latency p99     {p99:>10.2} ms");
    match pgbench {
        Ok(tps) => {
            println!("pgbench TPC-B-like (-c {concurrency}, same server): {tps:>10.1} tps");
            println!(
                "  ratio           {:>10.2} of pgbench",
                orders_per_sec / tps
            );
        }
        Err(err) => println!("pgbench not run: {err}"),
    }
    Ok(())
}

async fn run(url: &str, total: usize, concurrency: usize) -> anyhow::Result<(f64, f64, f64)> {
    let conn = db::connect(url).await?;
    db::migrate(&conn).await?;
    let now = Utc::now();
    let scenes = SceneSigner::new(b"bench");
    let (merchant, _) =
        merchants::create_merchant(&conn, "Bench", None, "bench.owner", "bench-password", now)
            .await?;
    let store = merchants::create_store(&conn, &scenes, merchant.id, "Main", now).await?;
    let scene = merchants::store_code(&conn, store.id).await?.scene;
    let patch = programs::ProgramsPatch {
        rebate: Some(RebateRules {
            enabled: true,
            rebate_rate: "0.05".parse()?,
            point_value: "1.00".parse()?,
            points_expiry_days: 365,
            max_deduction_ratio: "0.50".parse()?,
        }),
        ..Default::default()
    };
    programs::configure(&conn, merchant.id, None, patch, now).await?;
    let mut users = Vec::new();
    for i in 0..100 {
        let identity = WechatIdentity {
            openid: format!("bench-{i}"),
            unionid: None,
        };
        let user = accounts::shopper_for(&conn, &identity, now).await?;
        members::join_by_scene(&conn, &scenes, user.id, &scene, now).await?;
        users.push(user.id);
    }
    let users = Arc::new(users);
    let (store_id, merchant_id) = (store.id, merchant.id);
    let complete = move |i: usize, conn: sea_orm::DatabaseConnection, users: Arc<Vec<i64>>| async move {
        let input = orders::NewOrder {
            store_id,
            user_id: Some(users[i % users.len()]),
            member_code: None,
            amount: Decimal::new(1000 + (i as i64 % 90_000), 2),
            points_to_use: 0,
            idempotency_key: format!("bench-{i}"),
            complete: true,
        };
        let started = Instant::now();
        orders::record_order(&conn, merchant_id, None, input, Utc::now()).await?;
        Ok::<f64, anyhow::Error>(started.elapsed().as_secs_f64() * 1000.0)
    };
    for i in 0..50 {
        complete(total + i, conn.clone(), users.clone()).await?; // warm-up
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (conn, users) = (conn.clone(), users.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (w..total).step_by(concurrency) {
                latencies.push(complete(i, conn.clone(), users.clone()).await?);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let report = fenhong::ledger::audit(&conn).await?;
    anyhow::ensure!(
        report.is_clean(),
        "ledger audit failed after the run:\n{report}"
    );
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    conn.close().await?;
    Ok((total as f64 / elapsed, pick(0.50), pick(0.99)))
}

/// pgbench's built-in TPC-B-like transaction (3 updates, 1 select, 1 insert) for 10 s.
fn pgbench(url: &str, concurrency: usize) -> anyhow::Result<f64> {
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "1", url])
        .output()?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let run = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &concurrency.to_string(),
            "-j",
            "2",
            "-T",
            "10",
            url,
        ])
        .output()?;
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
        })
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output: {out}"))
}
