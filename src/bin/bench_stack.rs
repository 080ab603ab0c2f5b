//! Full-stack throughput: the real `fenhong` server (release build) on PostgreSQL, driven
//! over HTTP by this program's own client (keep-alive HTTP/1.1 connections, one per
//! simulated client, each request written from one buffer and its answer read by its
//! length: a load generator about as lean as pgbench's own client), beside the limits measured in the same run: pgbench's TPC-B and select-only on
//! the same PostgreSQL server, and a bare axum JSON handler, each limit measured next to the
//! phases compared with it (the bare handler just before `{ __typename }`, select-only just
//! after the lookups, TPC-B with one client between the hot merchant's one and eight
//! connections, with eight clients just after the eight merchants), so that the machine's
//! own changes of speed during a run touch both sides of a ratio alike. Then
//! `fenhong audit`'s check on what the run wrote.
//!
//! cargo build --release --bin fenhong --bin bench_stack && \
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres target/release/bench_stack [seconds]
//!
//! Each figure is one run of `seconds` (default 5). Orders are `recordOrder(complete: true)`
//! with fresh idempotency keys; the programs are RULES.md's queue (N = 3, q = 0.40,
//! r1 = 0.20) with the rebate on.

use std::{
    process::{Child, Command},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use axum::{routing::post, serve::ListenerExt, Json, Router};
use chrono::Utc;
use fenhong::{
    auth::{wechat::WechatIdentity, Principal, StaffRole, TokenKeys},
    db,
    rules::{
        programs::{QueueRules, RebateRules},
        scene::SceneSigner,
    },
    services::{accounts, members, merchants, programs},
};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
const SHOPPERS: usize = 40;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A merchant ready to sell: its id, a staff token and its members' user ids.
struct Shop {
    merchant_id: i64,
    store_id: i64,
    token: String,
    users: Vec<i64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5);
    let duration = Duration::from_secs(seconds);
    let server = db::ScratchDatabase::server_from_env()?;
    let scratch = db::ScratchDatabase::create(&server, "fenhong_bench_stack_").await?;
    if let Ok(phase) = std::env::var("BENCH_ONLY") {
        let result = only(&scratch.url, &phase, duration).await;
        scratch.drop_now().await?;
        let figure = result?;
        println!(
            "{phase}: {:.0}/s p50 {:.2} ms p99 {:.2} ms{}",
            figure.rate,
            figure.p50,
            figure.p99,
            figure.cpu_text()
        );
        return Ok(());
    }
    let bench = db::ScratchDatabase::create(&server, "fenhong_pgbench_").await?;
    let pgbench = PgbenchDb::init(&bench.url);
    let result = run(&scratch.url, duration, &pgbench).await;
    bench.drop_now().await?;
    scratch.drop_now().await?;
    let figures = result?;
    let pgbench = &figures.pgbench;
    println!();
    println!("measure ({seconds} s each, this machine)              fenhong                limit (same run)          ratio");
    let tpcb1 = pgbench.as_ref().ok().map(|p| p.tpcb1);
    let tpcb8 = pgbench.as_ref().ok().map(|p| p.tpcb8);
    let select8 = pgbench.as_ref().ok().map(|p| p.select8);
    let row = |name: &str, f: &Figure, limit: Option<(f64, &str)>| {
        let (limit_text, ratio) = match limit {
            Some((l, what)) => (format!("{what} {l:>8.0}"), format!("{:.2}", f.rate / l)),
            None => (String::new(), String::new()),
        };
        println!(
            "{name:<50} {:>7.0}/s p50 {:>6.2} ms p99 {:>6.2} ms   {limit_text:<24} {ratio:<4}{}",
            f.rate,
            f.p50,
            f.p99,
            f.cpu_text()
        );
    };
    row(
        "one merchant, 1 connection",
        &figures.hot1,
        tpcb1.map(|t| (t, "pgbench TPC-B -c1")),
    );
    row(
        "one merchant, 8 connections",
        &figures.hot8,
        tpcb1.map(|t| (t, "pgbench TPC-B -c1")),
    );
    row(
        "one merchant, 8 connections, group commit off",
        &figures.hot8_off,
        tpcb1.map(|t| (t, "pgbench TPC-B -c1")),
    );
    row("one merchant, 32 connections", &figures.hot32, None);
    row(
        "8 merchants, 8 connections",
        &figures.spread8,
        tpcb8.map(|t| (t, "pgbench TPC-B -c8")),
    );
    row(
        "{ __typename }, 8 connections",
        &figures.typename,
        Some((figures.bare.rate, "bare axum handler")),
    );
    row(
        "merchant(id) logged in, 8 connections",
        &figures.lookup,
        select8.map(|t| (t, "pgbench -S -c8")),
    );
    match pgbench {
        Ok(Pgbench {
            cpu: [Some(c1), Some(c8), Some(select)],
            ..
        }) => println!(
            "PostgreSQL's CPU per pgbench transaction: TPC-B -c1 {c1:.0} µs, -c8 {c8:.0} µs, -S -c8 {select:.0} µs"
        ),
        Ok(_) => {}
        Err(err) => println!("pgbench not run: {err:#}"),
    }
    println!(
        "ledger audit after the run: {}",
        if figures.audit_clean {
            "clean"
        } else {
            "PROBLEMS"
        }
    );
    anyhow::ensure!(figures.audit_clean, "the ledger audit failed");
    Ok(())
}

struct Figures {
    hot1: Figure,
    hot8: Figure,
    hot8_off: Figure,
    hot32: Figure,
    spread8: Figure,
    typename: Figure,
    bare: Figure,
    lookup: Figure,
    /// Each rate measured next to the phases compared with it (so a change in the machine's
    /// speed during the run touches both sides of a ratio alike).
    pgbench: anyhow::Result<Pgbench>,
    audit_clean: bool,
}

#[derive(Clone, Copy, Debug)]
struct Figure {
    rate: f64,
    p50: f64,
    p99: f64,
    /// CPU time per request over the phase, in µs: the server's process and PostgreSQL's
    /// (every process of that name on this machine), where they could be read.
    cpu: Option<(f64, Option<f64>)>,
}

impl Figure {
    fn cpu_text(&self) -> String {
        match self.cpu {
            Some((server, postgres)) => format!(
                "   CPU/request: server {server:.0} µs{}",
                postgres.map_or(String::new(), |p| format!(", PostgreSQL {p:.0} µs"))
            ),
            None => String::new(),
        }
    }
}

/// Seconds of CPU a process has used (Linux: `utime + stime` of `/proc/<pid>/stat`, in
/// the kernel's fixed 100 ticks a second), with `children` also what its children that
/// ended and were waited for had used (`cutime + cstime`).
fn process_cpu(pid: u32, children: bool) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command's closing parenthesis: state is field 3, utime 14, stime 15,
    // cutime 16, cstime 17.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let last = if children { 14 } else { 12 };
    let mut ticks = 0u64;
    for field in 11..=last {
        ticks += fields.get(field)?.parse::<u64>().ok()?;
    }
    Some(ticks as f64 / 100.0)
}

/// Seconds of CPU every `postgres` process on this machine has used, the connections that
/// ended meanwhile included (counted in the postmaster's children's time); `None` when none
/// runs here, as with a database elsewhere.
fn postgres_cpu() -> Option<f64> {
    let mut total = None;
    for pid in postgres_pids() {
        if let Some(cpu) = process_cpu(pid, true) {
            *total.get_or_insert(0.0) += cpu;
        }
    }
    total
}

/// The `postgres` processes on this machine.
fn postgres_pids() -> std::collections::BTreeSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .collect()
}

/// Waits (at most a second) until every `postgres` process not in `before` has gone: the
/// backends of connections just closed. One read of the CPU while they exit could miss a
/// backend already gone from `/proc` and not yet counted in its parent's children's time,
/// and charge its whole CPU to the next phase.
fn connections_ended(before: &std::collections::BTreeSet<u32>) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while !postgres_pids().is_subset(before) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a phase against the server `pid` and adds to its figure the CPU per request the
/// server and PostgreSQL spent meanwhile.
async fn metered(
    pid: u32,
    duration: Duration,
    phase: impl std::future::Future<Output = anyhow::Result<Figure>>,
) -> anyhow::Result<Figure> {
    let before = (process_cpu(pid, false), postgres_cpu());
    let mut figure = phase.await?;
    let after = (process_cpu(pid, false), postgres_cpu());
    let requests = figure.rate * duration.as_secs_f64();
    let per = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / requests * 1e6);
    figure.cpu = per(before.0, after.0).map(|server| (server, per(before.1, after.1)));
    Ok(figure)
}

async fn shops(conn: &sea_orm::DatabaseConnection) -> anyhow::Result<Arc<Vec<Shop>>> {
    db::migrate(conn).await?;
    let mut shops = Vec::new();
    for i in 0..8 {
        shops.push(shop(conn, i).await?);
    }
    Ok(Arc::new(shops))
}

fn typename_body() -> Value {
    json!({ "query": "{ __typename }" })
}

fn lookup_body(shop: &Shop) -> Value {
    json!({ "query": "query($m: ID!) { merchant(id: $m) { id name timeZone } }", "variables": { "m": shop.merchant_id.to_string() } })
}

/// BENCH_ONLY=<phase>: one phase alone against a server started for it, to look inside it
/// (with `perf`, or the server's log): `hot1`, `hot8`, `hot32`, `spread8`, `typename`,
/// `lookup` or `bare`. No pgbench, no table.
async fn only(url: &str, phase: &str, duration: Duration) -> anyhow::Result<Figure> {
    let conn = db::connect(url).await?;
    let shops = shops(&conn).await?;
    if phase == "bare" {
        let base = bare_axum()?;
        wait_up(&base).await;
        return load(&base, 8, duration, None, typename_body()).await;
    }
    let (server, base) = start_server(url, true)?;
    wait_up(&base).await;
    let pid = server.0.id();
    eprintln!("server pid {pid}");
    let figure = match phase {
        "hot1" => metered(pid, duration, orders(&base, &shops, 1, 1, duration)).await?,
        "hot8" => metered(pid, duration, orders(&base, &shops, 1, 8, duration)).await?,
        "hot32" => metered(pid, duration, orders(&base, &shops, 1, 32, duration)).await?,
        "spread8" => metered(pid, duration, orders(&base, &shops, 8, 8, duration)).await?,
        "typename" => {
            let body = typename_body();
            metered(pid, duration, load(&base, 8, duration, None, body)).await?
        }
        "lookup" => {
            let token = Some(shops[0].token.clone());
            let body = lookup_body(&shops[0]);
            metered(pid, duration, load(&base, 8, duration, token, body)).await?
        }
        other => anyhow::bail!("no phase {other}"),
    };
    drop(server);
    Ok(figure)
}

async fn run(
    url: &str,
    duration: Duration,
    pgbench: &anyhow::Result<PgbenchDb>,
) -> anyhow::Result<Figures> {
    // pgbench's figures, each taken next to the phases compared with it.
    let limit = |extra: &'static [&'static str]| match pgbench {
        Ok(db) => db.run(extra, duration),
        Err(err) => Err(anyhow::anyhow!("{err:#}")),
    };
    let conn = db::connect(url).await?;
    let shops = shops(&conn).await?;

    // The requests that write nothing first, beside the bare handler: measured after the
    // order phases they would share the machine with PostgreSQL's vacuum of what those wrote.
    let bare_base = bare_axum()?;
    wait_up(&bare_base).await;
    let bare = load(&bare_base, 8, duration, None, typename_body()).await?;
    let (server, base) = start_server(url, true)?;
    wait_up(&base).await;
    let pid = server.0.id();
    let typename = metered(
        pid,
        duration,
        load(&base, 8, duration, None, typename_body()),
    )
    .await?;
    let lookup = metered(
        pid,
        duration,
        load(
            &base,
            8,
            duration,
            Some(shops[0].token.clone()),
            lookup_body(&shops[0]),
        ),
    )
    .await?;
    let select8 = limit(&["-S", "-c", "8", "-j", "2"]);
    let hot1 = metered(pid, duration, orders(&base, &shops, 1, 1, duration)).await?;
    let tpcb1 = limit(&["-c", "1", "-j", "1"]);
    let hot8 = metered(pid, duration, orders(&base, &shops, 1, 8, duration)).await?;
    let hot32 = metered(pid, duration, orders(&base, &shops, 1, 32, duration)).await?;
    let spread8 = metered(pid, duration, orders(&base, &shops, 8, 8, duration)).await?;
    let tpcb8 = limit(&["-c", "8", "-j", "2"]);
    drop(server);

    let (server, base) = start_server(url, false)?;
    wait_up(&base).await;
    let hot8_off = metered(
        server.0.id(),
        duration,
        orders(&base, &shops, 1, 8, duration),
    )
    .await?;
    drop(server);

    let audit_clean = fenhong::ledger::audit(&conn).await?.is_clean();
    Ok(Figures {
        hot1,
        hot8,
        hot8_off,
        hot32,
        spread8,
        typename,
        bare,
        lookup,
        pgbench: (|| {
            let (tpcb1, cpu1) = tpcb1?;
            let (tpcb8, cpu8) = tpcb8?;
            let (select8, cpu_select) = select8?;
            Ok(Pgbench {
                tpcb1,
                tpcb8,
                select8,
                cpu: [cpu1, cpu8, cpu_select],
            })
        })(),
        audit_clean,
    })
}

async fn shop(conn: &sea_orm::DatabaseConnection, i: usize) -> anyhow::Result<Shop> {
    let now = Utc::now();
    let scenes = SceneSigner::new(SECRET.as_bytes());
    let (merchant, owner) = merchants::create_merchant(
        conn,
        &format!("Stack bench {i}"),
        None,
        &format!("stack.owner{i}"),
        "bench-password",
        now,
    )
    .await?;
    let store = merchants::create_store(conn, &scenes, merchant.id, "Main", now).await?;
    let scene = merchants::store_code(conn, store.id).await?.scene;
    let mut users = Vec::new();
    for k in 0..SHOPPERS {
        let user = accounts::shopper_for(
            conn,
            &WechatIdentity {
                openid: format!("stack-{i}-{k}"),
                unionid: None,
            },
            now,
        )
        .await?;
        members::join_by_scene(conn, &scenes, user.id, &scene, now).await?;
        users.push(user.id);
    }
    programs::configure(
        conn,
        merchant.id,
        None,
        programs::ProgramsPatch {
            queue: Some(QueueRules {
                enabled: true,
                active_slots: 3,
                queue_ratio: "0.40".parse()?,
                referral_ratio: "0.20".parse()?,
                second_level_ratio: Decimal::ZERO,
                cap_multiple: Decimal::ONE,
                min_order_amount: Decimal::ZERO,
            }),
            rebate: Some(RebateRules {
                enabled: true,
                rebate_rate: "0.05".parse()?,
                point_value: Decimal::ONE,
                points_expiry_days: 365,
                max_deduction_ratio: "0.50".parse()?,
            }),
            ..Default::default()
        },
        now,
    )
    .await?;
    let keys = TokenKeys::new(SECRET.as_bytes(), Duration::from_secs(3600));
    let staff = Principal::Staff {
        staff_id: Some(owner.id),
        merchant_id: merchant.id,
        role: StaffRole::Owner,
    };
    let (token, _) = keys.issue(staff, 0, Utc::now())?;
    Ok(Shop {
        merchant_id: merchant.id,
        store_id: store.id,
        token,
        users,
    })
}

fn start_server(url: &str, group_commit: bool) -> anyhow::Result<(Server, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let exe = std::env::current_exe()?.with_file_name("fenhong");
    // The server reads FENHONG_WORKERS and FENHONG_LIVE_WORKERS from this environment.
    let child = Command::new(exe)
        .env("DATABASE_URL", url)
        .env_remove("REDIS_URL")
        .env("FENHONG_BIND", format!("127.0.0.1:{port}"))
        .env("JWT_SECRET", SECRET)
        .env(
            "FENHONG_GROUP_COMMIT",
            if group_commit { "on" } else { "off" },
        )
        // BENCH_SERVER_LOG: the server's log filter, to look inside a run.
        .env(
            "RUST_LOG",
            std::env::var("BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .spawn()?;
    Ok((Server(child), format!("http://127.0.0.1:{port}")))
}

async fn wait_up(base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .post(format!("{base}/graphql"))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The same GraphQL answer as `{ __typename }`, from a handler that does nothing else.
fn bare_axum() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let app = Router::new().route(
                "/graphql",
                post(|Json(_): Json<Value>| async {
                    Json(json!({ "data": { "__typename": "Query" } }))
                }),
            );
            // As the server's own listener: small writes go out at once.
            let listener = tokio::net::TcpListener::from_std(listener)
                .expect("listener")
                .tap_io(|stream| {
                    let _ = stream.set_nodelay(true);
                });
            axum::serve(listener, app).await.expect("serve");
        });
    });
    Ok(base)
}

/// `clients` clients recording completed orders for `merchants` merchants (client i sells
/// at merchant i mod merchants) for `duration`.
async fn orders(
    base: &str,
    shops: &Arc<Vec<Shop>>,
    merchants: usize,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Figure> {
    static KEY: AtomicU64 = AtomicU64::new(0);
    let run = std::process::id();
    let mut tasks = Vec::new();
    let until = Instant::now() + duration;
    for c in 0..clients {
        let shops = shops.clone();
        let base = base.to_owned();
        tasks.push(tokio::spawn(async move {
            let shop = &shops[c % merchants];
            let mut connection = Connection::open(&base).await?;
            let mut latencies = Vec::new();
            let mut k = c;
            while Instant::now() < until {
                let key = KEY.fetch_add(1, Ordering::Relaxed);
                let body = json!({
                    "query": "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id status } }",
                    "variables": { "i": {
                        "storeId": shop.store_id.to_string(),
                        "userId": shop.users[k % shop.users.len()].to_string(),
                        "amount": format!("{}.{:02}", 20 + k % 180, k % 100),
                        "idempotencyKey": format!("stack-{run}-{key}"),
                        "complete": true,
                    } },
                });
                k += 7;
                let body = body.to_string();
                let started = Instant::now();
                let answer = connection.post(Some(&shop.token), &body).await?;
                anyhow::ensure!(
                    answered(answer, b"\"status\":\"COMPLETED\""),
                    "{}",
                    String::from_utf8_lossy(answer.1)
                );
                latencies.push(started.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    collect(tasks, duration).await
}

/// `clients` clients posting `body` for `duration`.
async fn load(
    base: &str,
    clients: usize,
    duration: Duration,
    token: Option<String>,
    body: Value,
) -> anyhow::Result<Figure> {
    let mut tasks = Vec::new();
    let until = Instant::now() + duration;
    for _ in 0..clients {
        let base = base.to_owned();
        let token = token.clone();
        let body = body.to_string();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(&base).await?;
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let answer = connection.post(token.as_deref(), &body).await?;
                anyhow::ensure!(
                    answered(answer, b"\"data\""),
                    "{}",
                    String::from_utf8_lossy(answer.1)
                );
                latencies.push(started.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    collect(tasks, duration).await
}

/// A 200 answer holding `expected` and no error.
fn answered((status, body): (u16, &[u8]), expected: &[u8]) -> bool {
    let holds = |part: &[u8]| body.windows(part.len()).any(|w| w == part);
    status == 200 && holds(expected) && !holds(b"\"errors\"")
}

/// One keep-alive HTTP/1.1 connection posting JSON to `/graphql`. A request is written from
/// one reused buffer and its answer read by its `Content-Length` (the server always gives
/// it), so the client's share of the machine stays small.
struct Connection {
    stream: TcpStream,
    host: String,
    request: Vec<u8>,
    answer: Vec<u8>,
}

impl Connection {
    async fn open(base: &str) -> anyhow::Result<Self> {
        let host = base.strip_prefix("http://").context("an http:// address")?;
        let stream = TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            host: host.to_owned(),
            request: Vec::with_capacity(1024),
            answer: Vec::with_capacity(4096),
        })
    }

    /// Posts `body`, with `token` as its bearer credential; the status and the answer's body.
    async fn post(&mut self, token: Option<&str>, body: &str) -> anyhow::Result<(u16, &[u8])> {
        use std::io::Write as _;
        self.request.clear();
        write!(
            self.request,
            "POST /graphql HTTP/1.1\r\nhost: {}\r\naccept: application/json\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.host,
            body.len()
        )?;
        if let Some(token) = token {
            write!(self.request, "authorization: Bearer {token}\r\n")?;
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(body.as_bytes());
        self.stream.write_all(&self.request).await?;
        self.answer.clear();
        let (status, head, length) = loop {
            if self.stream.read_buf(&mut self.answer).await? == 0 {
                anyhow::bail!("the server closed the connection");
            }
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = response.parse(&self.answer)? {
                let length = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                    .context("an answer without Content-Length")?;
                break (response.code.unwrap_or(0), head, length);
            }
            self.answer.reserve(4096);
        };
        while self.answer.len() < head + length {
            self.answer.reserve(head + length - self.answer.len());
            if self.stream.read_buf(&mut self.answer).await? == 0 {
                anyhow::bail!("the server closed the connection mid-answer");
            }
        }
        Ok((status, &self.answer[head..head + length]))
    }
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>>,
    duration: Duration,
) -> anyhow::Result<Figure> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Figure {
        rate: all.len() as f64 / duration.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        cpu: None,
    })
}

/// pgbench's rates (TPC-B `-c 1`, `-c 8`, select-only `-c 8`) and PostgreSQL's CPU per
/// transaction in each (µs, when PostgreSQL runs on this machine).
struct Pgbench {
    tpcb1: f64,
    tpcb8: f64,
    select8: f64,
    cpu: [Option<f64>; 3],
}

/// pgbench's scratch database, initialised (scale 1).
struct PgbenchDb {
    url: String,
}

impl PgbenchDb {
    fn init(url: &str) -> anyhow::Result<PgbenchDb> {
        let init = Command::new("pgbench")
            .args(["-i", "-q", "-s", "1", url])
            .output()
            .context("pgbench")?;
        anyhow::ensure!(
            init.status.success(),
            "pgbench -i: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        Ok(PgbenchDb {
            url: url.to_owned(),
        })
    }

    /// One pgbench run of `duration` with `extra` arguments: its tps and PostgreSQL's CPU
    /// per transaction.
    fn run(&self, extra: &[&str], duration: Duration) -> anyhow::Result<(f64, Option<f64>)> {
        let seconds = duration.as_secs();
        let secs = seconds.to_string();
        let mut args = vec!["-n", "-T", &secs];
        args.extend_from_slice(extra);
        args.push(&self.url);
        let processes = postgres_pids();
        let before = postgres_cpu();
        let out = Command::new("pgbench").args(&args).output()?;
        connections_ended(&processes);
        let after = postgres_cpu();
        let text = String::from_utf8_lossy(&out.stdout);
        let tps: f64 = text
            .lines()
            .find(|l| l.starts_with("tps"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output: {text}"))?;
        let cpu = before
            .zip(after)
            .map(|(b, a)| (a - b) / (tps * seconds as f64) * 1e6);
        Ok((tps, cpu))
    }
}
