//! Live positions across instances and through Redis failures, each test on a Redis server
//! of its own (so it can flush and restart it).

use serde_json::{json, Value};

use crate::{helpers::*, queue::queue_rules, queue_live::*};

/// Next position message, skipping repeats of the state already seen (a resync after a
/// Redis failure re-sends the current state).
async fn next_change(ws: &mut WsClient, last: &mut Value) -> Value {
    loop {
        let message = ws.next().await;
        assert_eq!(message["type"], "next", "{message}");
        let state = message["payload"]["data"]["queuePosition"].clone();
        if state != *last {
            *last = state.clone();
            return state;
        }
    }
}

/// A merchant whose queue has C, D, E active and F, G waiting (the RULES.md table, F
/// referred by P), G's token and entry.
async fn table(t: &TestApp) -> (Merchant, String, String, String) {
    let m = t.merchant_with_store("Redis live").await;
    t.configure(&m, json!({ "queue": queue_rules() })).await;
    let cashier = t.staff(&m, "CASHIER").await;
    let (g_token, g_entry) = rules_table(t, &m, &cashier).await;
    (m, cashier, g_token, g_entry)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_on_one_instance_reaches_a_subscriber_on_another() {
    let redis = PrivateRedis::start();
    let url = redis.url();
    let t = TestApp::with_config(|c| c.redis_url = Some(url)).await;
    let second = t.second_instance().await;
    let (m, cashier, g_token, g_entry) = table(&t).await;
    // The subscriber is on instance 2; the orders go through instance 1.
    let address = serve(second.router()).await;
    let (mut ws, _) = WsClient::connect(address, &g_token).await;
    ws.subscribe("1", POSITION, json!({ "id": g_entry })).await;
    let mut last = Value::Null;
    assert_eq!(
        next_change(&mut ws, &mut last).await,
        json!({ "status": "WAITING", "position": 5, "received": "0.00" })
    );
    let (h_token, h) = t.shopper("h").await;
    t.join(&h_token, &m.store_scene).await;
    let mut seen = Vec::new();
    for i in 0..6 {
        complete(&t, &cashier, &m.store_id, &h, "1000", &format!("h{i}")).await;
    }
    loop {
        let state = next_change(&mut ws, &mut last).await;
        seen.push(state.clone());
        if state["status"] == "COMPLETED" {
            break;
        }
    }
    assert_eq!(
        seen.last().unwrap(),
        &json!({ "status": "COMPLETED", "position": null, "received": "300.00" })
    );
    assert!(seen.iter().any(|s| s["status"] == "ACTIVE"), "{seen:?}");
    // Redis holds the live set: its rank agrees with the database.
    assert_eq!(redis.cli(&["PING"]), "PONG");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_and_a_restart_lose_nothing() {
    let mut redis = PrivateRedis::start();
    let url = redis.url();
    let t = TestApp::with_config(|c| c.redis_url = Some(url)).await;
    let (m, cashier, g_token, g_entry) = table(&t).await;
    let address = t.serve().await;
    let (mut ws, _) = WsClient::connect(address, &g_token).await;
    ws.subscribe("1", POSITION, json!({ "id": g_entry })).await;
    let mut last = Value::Null;
    assert_eq!(next_change(&mut ws, &mut last).await["position"], 5);
    let (h_token, h) = t.shopper("h").await;
    t.join(&h_token, &m.store_scene).await;
    let live_key =
        |merchant: &str| format!("{}:{{m:{merchant}}}:live", t.app.state.config.redis_prefix);

    // Everything in Redis is wiped: the live set is rebuilt from the database.
    assert_eq!(redis.cli(&["ZCARD", &live_key(&m.id)]), "5"); // C, D, E, F, G
    assert_eq!(redis.cli(&["FLUSHALL"]), "OK");
    complete(&t, &cashier, &m.store_id, &h, "1000", "h1").await;
    complete(&t, &cashier, &m.store_id, &h, "1000", "h2").await;
    assert_eq!(
        next_change(&mut ws, &mut last).await,
        json!({ "status": "WAITING", "position": 4, "received": "0.00" })
    );
    let mut rebuilt = String::new();
    for _ in 0..40 {
        rebuilt = redis.cli(&["ZCARD", &live_key(&m.id)]);
        if rebuilt == "6" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rebuilt, "6", "C, E, F, G, h1, h2 are live");
    // The rebuilt set ranks G fourth, as the database does. (Events published meanwhile can
    // fill the set before the rebuild marks it complete; until then no rank is given.)
    let mut rank = None;
    for _ in 0..40 {
        rank = t
            .app
            .state
            .live
            .backend
            .rank(m.id.parse().unwrap(), g_entry.parse().unwrap())
            .await;
        if rank.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rank, Some(3));

    // Redis goes away: completions still commit, their events wait in the outbox.
    redis.stop();
    complete(&t, &cashier, &m.store_id, &h, "1000", "h3").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    redis.restart();
    // After the restart the subscriber is brought up to date, and later events flow again.
    assert_eq!(
        next_change(&mut ws, &mut last).await,
        json!({ "status": "ACTIVE", "position": 2, "received": "0.00" })
    );
    complete(&t, &cashier, &m.store_id, &h, "1000", "h4").await;
    assert_eq!(
        next_change(&mut ws, &mut last).await,
        json!({ "status": "ACTIVE", "position": 1, "received": "274.81" })
    );
    complete(&t, &cashier, &m.store_id, &h, "1000", "h5").await;
    assert_eq!(
        next_change(&mut ws, &mut last).await,
        json!({ "status": "COMPLETED", "position": null, "received": "300.00" })
    );
    // Every event was relayed (the relay marks a row just after publishing it).
    let mut unpublished = -1;
    for _ in 0..40 {
        unpublished = t.count("live_outbox WHERE published_at IS NULL").await;
        if unpublished == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(unpublished, 0);
}
