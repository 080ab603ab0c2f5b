//! Nested-page benchmark: a merchant with the queue and rebate programs, 40 members (half
//! referred) and 300 completed orders on PostgreSQL; a manager's page of 100 orders with
//! each order's user, store, queue entry (and its order) and rewards (and their
//! beneficiaries), through the real router. Prints the statements one page issues and its
//! latency, next to `{ __typename }` through the same stack; then the time to refuse a
//! fragment bomb and a nested-list query.
//!
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release --bin bench_nested -- [pages]

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{body::Body, http::Request, Router};
use fenhong::{config::Config, db, Fenhong};
use serde_json::{json, Value};
use tower::ServiceExt;

const PAGE: &str = "query($m: ID!) { orders(merchantId: $m, first: 100) { edges { node {
    id amount status
    user { id nickname }
    store { id name }
    queueEntry { id status position target received order { id amount } }
    rewards { kind amount unit beneficiary { id nickname } }
} } } }";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let pages: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let scratch = db::ScratchDatabase::create(
        &db::ScratchDatabase::server_from_env()?,
        "fenhong_bench_nested_",
    )
    .await?;
    let result = run(&scratch.url, pages).await;
    scratch.drop_now().await?;
    result
}

async fn run(url: &str, pages: usize) -> anyhow::Result<()> {
    let statements = Arc::new(AtomicU64::new(0));
    let mut conn = db::connect(url).await?;
    let counter = statements.clone();
    conn.set_metric_callback(move |info| {
        if !info.statement.sql.contains("live_outbox") {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    db::migrate(&conn).await?;
    let mut config = Config::development(url);
    config.admin_password = Some("bench-admin-password".into());
    // The page costs about 7 800 by the cost rules (rewards count as 10 each).
    config.max_query_cost = 20_000;
    let app = Fenhong::with_database(config, conn, None).await?;
    let router = app.router();

    let admin = token(&router, "admin", "bench-admin-password").await?;
    let merchant = gql(
        &router,
        Some(&admin),
        "mutation { createMerchant(input: { name: \"Bench café\", ownerUsername: \"bench-owner\", ownerPassword: \"bench-password\" }) { id } }",
        json!({}),
    )
    .await?["createMerchant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let owner = token(&router, "bench-owner", "bench-password").await?;
    let store = gql(
        &router,
        Some(&owner),
        "mutation($m: ID!) { createStore(merchantId: $m, name: \"Main street\") { id qrCode { scene } } }",
        json!({ "m": merchant }),
    )
    .await?;
    let store_id = store["createStore"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let scene = store["createStore"]["qrCode"]["scene"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    gql(
        &router,
        Some(&owner),
        "mutation($m: ID!) { configurePrograms(merchantId: $m, input: { queue: { enabled: true, activeSlots: 3, queueRatio: \"0.40\", referralRatio: \"0.20\" }, rebate: { enabled: true, rebateRate: \"0.05\" } }) { version } }",
        json!({ "m": merchant }),
    )
    .await?;
    let mut users = Vec::new();
    let mut referral = scene.clone();
    for i in 0..40 {
        let login = gql(
            &router,
            None,
            "mutation($c: String!) { loginWithWechat(code: $c) { token user { id } } }",
            json!({ "c": format!("bench-{i}") }),
        )
        .await?;
        let shopper = login["loginWithWechat"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let joined = gql(
            &router,
            Some(&shopper),
            "mutation($s: String!) { joinByScene(scene: $s) { referralCode { scene } } }",
            json!({ "s": if i % 2 == 0 { &scene } else { &referral } }),
        )
        .await?;
        if i % 2 == 0 {
            referral = joined["joinByScene"]["referralCode"]["scene"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        }
        users.push(
            login["loginWithWechat"]["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for i in 0..300 {
        gql(
            &router,
            Some(&owner),
            "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }",
            json!({ "i": { "storeId": store_id, "userId": users[i % users.len()], "amount": format!("{}.00", 20 + i % 30), "idempotencyKey": format!("bench-{i}"), "complete": true } }),
        )
        .await?;
    }

    let floor = time(pages, || {
        gql(&router, Some(&owner), "{ __typename }", json!({}))
    })
    .await?;
    statements.store(0, Ordering::Relaxed);
    let page = time(pages, || {
        gql(&router, Some(&owner), PAGE, json!({ "m": merchant }))
    })
    .await?;
    let per_page = statements.load(Ordering::Relaxed) as f64 / pages as f64;
    println!("page of 100 orders with nested users, stores, entries and rewards ({pages} runs):");
    println!("  statements per page: {per_page:.1}");
    println!("  latency p50 {:?}, p99 {:?}", page.0, page.1);
    println!(
        "  {{ __typename }} through the same stack: p50 {:?}, p99 {:?}",
        floor.0, floor.1
    );

    let bomb = fragment_bomb(40);
    let refused = time(pages, || gql_raw(&router, None, &bomb)).await?;
    println!(
        "fragment bomb (40 levels, {} bytes) refused: p50 {:?}, p99 {:?}",
        bomb.len(),
        refused.0,
        refused.1
    );
    let nested = "{ me { memberships { queueEntries { order { user { memberships { queueEntries { order { user { memberships { id } } } } } } } } } } }";
    let refused = time(pages, || gql_raw(&router, Some(&owner), nested)).await?;
    println!(
        "nested lists ({} bytes) refused: p50 {:?}, p99 {:?}",
        nested.len(),
        refused.0,
        refused.1
    );
    Ok(())
}

fn fragment_bomb(levels: usize) -> String {
    let mut query = format!("{{ me {{ ...F{levels} }} }}\nfragment F0 on User {{ id nickname }}\n");
    for level in 1..=levels {
        query.push_str(&format!(
            "fragment F{level} on User {{ ...F{prev} ...F{prev} }}\n",
            prev = level - 1
        ));
    }
    query
}

/// p50 and p99 of `runs` sequential calls.
async fn time<F, Fut, T>(runs: usize, mut call: F) -> anyhow::Result<(Duration, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok((at(0.50), at(0.99)))
}

async fn token(router: &Router, username: &str, password: &str) -> anyhow::Result<String> {
    let data = gql(
        router,
        None,
        "mutation($u: String!, $p: String!) { staffLogin(username: $u, password: $p) { token } }",
        json!({ "u": username, "p": password }),
    )
    .await?;
    Ok(data["staffLogin"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// A request that must succeed; its `data`.
async fn gql(
    router: &Router,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let response = post(
        router,
        token,
        json!({ "query": query, "variables": variables }),
    )
    .await?;
    if let Some(errors) = response.get("errors") {
        anyhow::bail!("{query}: {errors}");
    }
    Ok(response["data"].clone())
}

/// A request whose answer is not checked (it is meant to be refused).
async fn gql_raw(router: &Router, token: Option<&str>, query: &str) -> anyhow::Result<Value> {
    post(router, token, json!({ "query": query })).await
}

async fn post(router: &Router, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut request = Request::post("/graphql").header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body.to_string()))?)
        .await?;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
    Ok(serde_json::from_slice(&bytes)?)
}
