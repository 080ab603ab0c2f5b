//! Live-position load: runs the real `fenhong` server (PostgreSQL + Redis), opens N
//! WebSocket subscriptions to N waiting queue entries, completes orders at a steady rate
//! through GraphQL, and prints the delay from each completion's commit (its HTTP answer) to
//! the last subscriber's update, messages per second, and the server's memory per idle
//! subscription, beside `redis-benchmark`'s PUBLISH rate measured in the same run. Then
//! a sustained phase: 100 completions a second for 10 s, how old each subscriber's shown
//! state gets at worst, and the server's memory before and after.
//!
//! ulimit -n 20000; cargo build --release --bin fenhong --bin bench_live && \
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//!   target/release/bench_live 1000 10000

use std::{
    process::{Child, Command},
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use fenhong::{
    auth::{wechat::WechatIdentity, Principal, StaffRole, TokenKeys},
    db,
    rules::{programs::QueueRules, scene::SceneSigner},
    services::{accounts, members, merchants, programs},
};
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{
    client::IntoClientRequest, protocol::WebSocketConfig, Message,
};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
const ORDERS: usize = 30;
const ORDER_INTERVAL: Duration = Duration::from_millis(300);
/// The sustained phase: this many completions a second for `BENCH_SUSTAINED_SECONDS`
/// (default 10; longer runs show whether the server's memory levels off).
const SUSTAINED_RATE: usize = 100;

fn sustained_seconds() -> usize {
    std::env::var("BENCH_SUSTAINED_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let sizes = if sizes.is_empty() {
        vec![1000, 10_000]
    } else {
        sizes
    };
    let server = db::ScratchDatabase::server_from_env()?;
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    println!("{}", redis_benchmark());
    for n in sizes {
        let scratch = db::ScratchDatabase::create(&server, "fenhong_bench_live_").await?;
        let result = run(&scratch.url, &redis, n).await;
        scratch.drop_now().await?;
        result?;
    }
    Ok(())
}

fn redis_benchmark() -> String {
    match Command::new("redis-benchmark")
        .args([
            "-q",
            "-n",
            "100000",
            "PUBLISH",
            "fenhong:bench",
            "{\"seq\":1}",
        ])
        .output()
    {
        Ok(out) => format!(
            "redis-benchmark (same machine): {}",
            String::from_utf8_lossy(&out.stdout)
                .split(['\r', '\n'])
                .rfind(|l| l.contains("requests per second"))
                .unwrap_or("")
                .trim()
        ),
        Err(err) => format!("redis-benchmark not run: {err}"),
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run(url: &str, redis: &str, n: usize) -> anyhow::Result<()> {
    let conn = db::connect(url).await?;
    db::migrate(&conn).await?;
    let now = Utc::now();
    let scenes = SceneSigner::new(SECRET.as_bytes());
    let (merchant, owner) = merchants::create_merchant(
        &conn,
        "Live bench",
        None,
        "live.owner",
        "bench-password",
        now,
    )
    .await?;
    let store = merchants::create_store(&conn, &scenes, merchant.id, "Main", now).await?;
    let scene = merchants::store_code(&conn, store.id).await?.scene;
    let user = accounts::shopper_for(
        &conn,
        &WechatIdentity {
            openid: "live-bench".into(),
            unionid: None,
        },
        now,
    )
    .await?;
    members::join_by_scene(&conn, &scenes, user.id, &scene, now).await?;
    let rules = QueueRules {
        enabled: true,
        active_slots: 3,
        queue_ratio: "0.40".parse()?,
        referral_ratio: "0.20".parse()?,
        second_level_ratio: Decimal::ZERO,
        cap_multiple: Decimal::ONE,
        min_order_amount: Decimal::ZERO,
    };
    programs::configure(
        &conn,
        merchant.id,
        None,
        programs::ProgramsPatch {
            queue: Some(rules),
            ..Default::default()
        },
        now,
    )
    .await?;
    // Entries of 0.01 each: every completion completes the three active ones, so every
    // waiting subscriber's position changes with every order. The watched entries sit
    // behind enough others that none of them completes during the run.
    let ahead = 3 * (ORDERS + SUSTAINED_RATE * sustained_seconds()) as i64 + 10;
    let entries = n as i64 + ahead;
    conn.execute_unprepared(&format!(
        "INSERT INTO queue_entries (merchant_id, ordinal, order_id, user_id, target, received, status, created_at) \
         SELECT {m}, g, -g, {u}, 1, 0, 'LIVE', now() FROM generate_series(1, {entries}) AS g",
        m = merchant.id,
        u = user.id
    ))
    .await?;
    conn.execute_unprepared(&format!(
        "UPDATE queue_states SET next_ordinal = {}, live_count = {entries} WHERE merchant_id = {}",
        entries + 1,
        merchant.id
    ))
    .await?;
    let first_id: i64 = <entity::queue_entry::Entity as sea_orm::EntityTrait>::find()
        .one(&conn)
        .await?
        .map(|e| e.id)
        .unwrap_or(1);

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?.with_file_name("fenhong");
    // The server reads FENHONG_WORKERS and FENHONG_LIVE_WORKERS from this environment.
    let child = Command::new(exe)
        .env("DATABASE_URL", url)
        .env("REDIS_URL", redis)
        .env(
            "FENHONG_REDIS_PREFIX",
            format!("bench{}", std::process::id()),
        )
        .env("FENHONG_BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", SECRET)
        // BENCH_SERVER_LOG: the server's log filter, to look inside a run.
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .spawn()?;
    let server = Server(child);
    let address = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(&address).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let keys = TokenKeys::new(SECRET.as_bytes(), Duration::from_secs(3600));
    let staff = Principal::Staff {
        staff_id: Some(owner.id),
        merchant_id: merchant.id,
        role: StaffRole::Owner,
    };
    let (token, _) = keys.issue(staff, 0, Utc::now())?;
    let token = Arc::new(token);

    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(server.0.id());
    // (subscriber, position shown, when it arrived)
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(usize, i64, Instant)>();
    let mut readers = Vec::with_capacity(n);
    let opened = Instant::now();
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut request = format!("ws://{address}/graphql/ws").into_client_request()?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
        // A small read buffer, as a phone's client would have: tungstenite's default (128 KiB)
        // is zeroed on every read, which made this client, not the server, the larger part
        // of the machine's work in a fan-out.
        let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
        socket
            .send(Message::Text(
                json!({ "type": "connection_init", "payload": { "token": *token } })
                    .to_string()
                    .into(),
            ))
            .await?;
        socket.next().await; // connection_ack
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected = rss_kib(server.0.id());
    for (i, mut socket) in sockets.into_iter().enumerate() {
        let entry = first_id + ahead + i as i64;
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: ID!) { queuePosition(entryId: $id) { position } }",
            "variables": { "id": entry.to_string() } } });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await?;
        socket.next().await; // the current state
        let arrivals = arrivals.clone();
        let debug = std::env::var("BENCH_DEBUG").is_ok() && i < 3;
        readers.push(tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message {
                    if debug {
                        eprintln!("reader {i}: {text}");
                    }
                    if text.contains("\"next\"") {
                        let at = Instant::now();
                        let position = serde_json::from_str::<serde_json::Value>(&text)
                            .ok()
                            .and_then(|v| {
                                v["payload"]["data"]["queuePosition"]["position"].as_i64()
                            })
                            .unwrap_or(-1);
                        let _ = arrivals.send((i, position, at));
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(server.0.id());
    let per = |from: u64, to: u64| to.saturating_sub(from) as f64 / n as f64;
    println!(
        "{n} subscriptions opened in {:.1} s; server RSS {} KiB → {} KiB: {:.1} KiB per idle subscription ({:.1} KiB its connection after connection_init, {:.1} KiB the subscription)",
        opened.elapsed().as_secs_f64(),
        before,
        after,
        per(before, after),
        per(before, connected),
        per(connected, after),
    );

    let http = reqwest::Client::new();
    let mut delays = Vec::with_capacity(ORDERS);
    let mut messages = 0usize;
    let mut shown = vec![i64::MAX; n];
    let started = Instant::now();
    for k in 0..ORDERS {
        let tick = Instant::now();
        let body = json!({ "query": "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }",
            "variables": { "i": { "storeId": store.id.to_string(), "userId": user.id.to_string(), "amount": "1000.00", "idempotencyKey": format!("live-{k}"), "complete": true } } });
        let response = http
            .post(format!("http://{address}/graphql"))
            .bearer_auth(&*token)
            .json(&body)
            .send()
            .await?;
        let committed = Instant::now();
        anyhow::ensure!(response.status().is_success(), "order failed");
        let mut last = committed;
        let deadline = committed + Duration::from_secs(10);
        let mut got = 0;
        while got < n {
            match tokio::time::timeout_at(deadline.into(), arrived.recv()).await {
                Ok(Some((i, position, at))) => {
                    got += 1;
                    last = last.max(at);
                    shown[i] = shown[i].min(position);
                }
                _ => break,
            }
        }
        messages += got;
        delays.push(last.saturating_duration_since(committed).as_secs_f64() * 1000.0);
        anyhow::ensure!(
            got == n,
            "only {got} of {n} subscribers were told of order {k}"
        );
        if let Some(rest) = ORDER_INTERVAL.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    delays.sort_by(f64::total_cmp);
    let pick = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    println!(
        "  {ORDERS} completions, one every {} ms: commit → last of {n} subscribers p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.0} messages/s",
        ORDER_INTERVAL.as_millis(),
        pick(0.5),
        pick(0.99),
        delays.last().copied().unwrap_or(0.0),
        messages as f64 / elapsed
    );
    sustained(
        &http,
        &address,
        &token,
        &store,
        &user,
        &server,
        n,
        shown,
        &mut arrived,
    )
    .await?;
    for reader in readers {
        reader.abort();
    }
    drop(server);
    Ok(())
}

/// `SUSTAINED_RATE` completions a second for `SUSTAINED_SECONDS`: how old each subscriber's
/// shown state gets (for every completion, the time from its commit until the subscriber
/// shows it or a later state) and whether the server's memory grows.
#[allow(clippy::too_many_arguments)]
async fn sustained(
    http: &reqwest::Client,
    address: &str,
    token: &str,
    store: &entity::store::Model,
    user: &entity::user::Model,
    server: &Server,
    n: usize,
    shown: Vec<i64>,
    arrived: &mut mpsc::UnboundedReceiver<(usize, i64, Instant)>,
) -> anyhow::Result<()> {
    let orders = SUSTAINED_RATE * sustained_seconds();
    let before = rss_kib(server.0.id());
    // The server's memory every 10 s of the phase.
    let mut memory = Vec::new();
    // Each order is sent at its time, whether or not earlier ones are answered yet; the
    // m-th answer marks the m-th commit (every completion moves a watcher the same way).
    let started = Instant::now();
    let mut sending = Vec::with_capacity(orders);
    for k in 0..orders {
        let due = started + Duration::from_secs_f64(k as f64 / SUSTAINED_RATE as f64);
        tokio::time::sleep_until(due.into()).await;
        if k % (SUSTAINED_RATE * 10) == 0 {
            memory.push(rss_kib(server.0.id()));
        }
        let body = json!({ "query": "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }",
            "variables": { "i": { "storeId": store.id.to_string(), "userId": user.id.to_string(), "amount": "1000.00", "idempotencyKey": format!("sustained-{k}"), "complete": true } } });
        let request = http
            .post(format!("http://{address}/graphql"))
            .bearer_auth(token)
            .json(&body);
        sending.push(tokio::spawn(async move {
            let response = request.send().await?;
            anyhow::ensure!(response.status().is_success(), "order failed");
            Ok::<_, anyhow::Error>(Instant::now())
        }));
    }
    let mut commits = Vec::with_capacity(orders);
    // How long each order took to be answered: the ages below count from the answer, so a
    // slower answer makes the same fan-out look fresher.
    let mut answered_in = Vec::with_capacity(orders);
    for (k, sent) in sending.into_iter().enumerate() {
        let answered = sent.await??;
        let due = started + Duration::from_secs_f64(k as f64 / SUSTAINED_RATE as f64);
        answered_in.push(answered.saturating_duration_since(due).as_secs_f64() * 1000.0);
        commits.push(answered);
    }
    commits.sort();
    answered_in.sort_by(f64::total_cmp);
    let answer =
        |q: f64| answered_in[((answered_in.len() as f64 * q) as usize).min(answered_in.len() - 1)];
    let sent_in = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(server.0.id());
    // Each completion moves every watched entry three places.
    let mut seen: Vec<Vec<(usize, Instant)>> = vec![Vec::new(); n];
    let mut messages = 0;
    while let Ok((i, position, at)) = arrived.try_recv() {
        messages += 1;
        let moved = (shown[i] - position) / 3;
        if moved >= 1 {
            seen[i].push(((moved - 1) as usize, at));
        }
    }
    let mut worst: Vec<f64> = Vec::with_capacity(n);
    let mut behind_at_end = 0;
    for arrivals in &seen {
        let mut max_age = 0f64;
        let mut next = 0;
        for (k, commit) in commits.iter().enumerate() {
            while next < arrivals.len() && arrivals[next].0 < k {
                next += 1;
            }
            match arrivals.get(next) {
                Some((_, at)) => {
                    max_age =
                        max_age.max(at.saturating_duration_since(*commit).as_secs_f64() * 1000.0)
                }
                None => {
                    behind_at_end += 1;
                    break;
                }
            }
        }
        worst.push(max_age);
    }
    worst.sort_by(f64::total_cmp);
    let pick = |q: f64| worst[((worst.len() as f64 * q) as usize).min(worst.len() - 1)];
    println!(
        "  {orders} completions at {SUSTAINED_RATE}/s (sent in {sent_in:.1} s, answered in p50 {:.0} ms, p99 {:.0} ms): oldest state each subscriber showed, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {behind_at_end} of {n} never showed the last state; {messages} messages; server RSS {before} KiB → {after} KiB",
        answer(0.5),
        answer(0.99),
        pick(0.5),
        pick(0.99),
        worst.last().copied().unwrap_or(0.0),
    );
    if memory.len() > 1 {
        let series: Vec<String> = memory.iter().map(|kib| kib.to_string()).collect();
        println!(
            "  server RSS every 10 s of the phase: {} KiB",
            series.join(" → ")
        );
    }
    Ok(())
}
