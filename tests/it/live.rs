//! Live queue positions, wallets and the merchant feed over real WebSockets.

use serde_json::{json, Value};

use crate::{helpers::*, queue::queue_rules, queue_live::*};

/// The code of a subscription's refusal (sent as `next` with errors, or as `error`).
fn refusal(message: &Value) -> String {
    let errors = if message["type"] == "error" {
        &message["payload"]
    } else {
        &message["payload"]["errors"]
    };
    assert!(message["payload"]["data"].is_null(), "{message}");
    errors[0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{message}"))
        .to_owned()
}

fn next_payload(message: &Value) -> Value {
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["queuePosition"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shoppers_position_moves_up_live_until_the_entry_completes() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Live").await;
    t.configure(&m, json!({ "queue": queue_rules() })).await;
    let cashier = t.staff(&m, "CASHIER").await;
    let (g_token, g_entry) = rules_table(&t, &m, &cashier).await;
    let address = t.serve().await;
    let (mut ws, ack) = WsClient::connect(address, &g_token).await;
    assert_eq!(ack["type"], "connection_ack");
    ws.subscribe("1", POSITION, json!({ "id": g_entry })).await;
    assert_eq!(
        next_payload(&ws.next().await),
        json!({ "status": "WAITING", "position": 5, "received": "0.00" })
    );

    let (_, h) = t.shopper("h").await;
    let h_token = t.shopper("h").await.0;
    t.join(&h_token, &m.store_scene).await;
    // h1 pays C, D and E 200.00 each: nobody completes, G stays 5th (nothing is pushed).
    complete(&t, &cashier, &m.store_id, &h, "1000", "h1").await;
    assert_eq!(
        ws.silent_for(std::time::Duration::from_millis(800)).await,
        None
    );
    // h2 completes D: G moves to 4th.
    complete(&t, &cashier, &m.store_id, &h, "1000", "h2").await;
    assert_eq!(
        next_payload(&ws.next().await),
        json!({ "status": "WAITING", "position": 4, "received": "0.00" })
    );
    // h3 (746.68 split 248.89) completes C and F: G is active, 2nd.
    complete(&t, &cashier, &m.store_id, &h, "1000", "h3").await;
    assert_eq!(
        next_payload(&ws.next().await),
        json!({ "status": "ACTIVE", "position": 2, "received": "0.00" })
    );
    // h4 (824.45 split 274.81) completes E and pays G 274.81: G is 1st.
    complete(&t, &cashier, &m.store_id, &h, "1000", "h4").await;
    assert_eq!(
        next_payload(&ws.next().await),
        json!({ "status": "ACTIVE", "position": 1, "received": "274.81" })
    );
    // h5 (670.38 split 223.46) pays G the 25.19 it lacked.
    complete(&t, &cashier, &m.store_id, &h, "1000", "h5").await;
    assert_eq!(
        next_payload(&ws.next().await),
        json!({ "status": "COMPLETED", "position": null, "received": "300.00" })
    );
    assert_eq!(ws.next().await, json!({ "id": "1", "type": "complete" }));
    assert_eq!(t.wallet(&g_token, &m.id).await["cash"], "300.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_and_merchant_feed_follow_orders_and_joins() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    let address = t.serve().await;
    let (mut owner, _) = WsClient::connect(address, &shop.merchant.owner_token).await;
    owner
        .subscribe(
            "feed",
            "subscription($m: ID!) { merchantFeed(merchantId: $m) { kind amount userId orderId } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    let (mut shopper, _) = WsClient::connect(address, token).await;
    shopper
        .subscribe(
            "w",
            "subscription($m: ID!) { walletUpdated(merchantId: $m) { cash points } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    let first = shopper.next().await;
    assert_eq!(
        first["payload"]["data"]["walletUpdated"],
        json!({ "cash": "0.00", "points": 0 })
    );
    // Give the feed's subscription a moment to be registered before events flow.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let order = t.order(&shop, user, "300.00", json!({})).await;
    let order_id = order["data"]["recordOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let update = shopper.next().await;
    assert_eq!(
        update["payload"]["data"]["walletUpdated"],
        json!({ "cash": "0.00", "points": 15 })
    );
    let event = owner.next().await;
    assert_eq!(
        event["payload"]["data"]["merchantFeed"],
        json!({ "kind": "ORDER_COMPLETED", "amount": "300.00", "userId": user, "orderId": order_id })
    );
    let (newcomer, newcomer_id) = t.shopper("newcomer").await;
    t.join(&newcomer, &shop.merchant.store_scene).await;
    let event = owner.next().await;
    assert_eq!(
        event["payload"]["data"]["merchantFeed"]["kind"],
        "MEMBER_JOINED"
    );
    assert_eq!(
        event["payload"]["data"]["merchantFeed"]["userId"],
        newcomer_id.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_only_for_their_owners() {
    let t = TestApp::new().await;
    let a = t.shop(2).await;
    let b = t.shop(1).await;
    t.configure(&a.merchant, json!({ "queue": queue_rules() }))
        .await;
    let order = t
        .ok(Some(&a.cashier), RECORD.replace("rewards {", "queueEntry { id } rewards {").as_str(), json!({ "i": { "storeId": a.merchant.store_id, "userId": a.shoppers[0].1, "amount": "100", "idempotencyKey": "x", "complete": true } }))
        .await;
    let entry = order["recordOrder"]["queueEntry"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let address = t.serve().await;
    let (mut other, _) = WsClient::connect(address, &a.shoppers[1].0).await;
    other.subscribe("1", POSITION, json!({ "id": entry })).await;
    assert_eq!(refusal(&other.next().await), "FORBIDDEN");
    assert_eq!(other.next().await["type"], "complete");
    let (mut foreign, _) = WsClient::connect(address, &b.merchant.owner_token).await;
    foreign
        .subscribe(
            "2",
            "subscription($m: ID!) { merchantFeed(merchantId: $m) { kind } }",
            json!({ "m": a.merchant.id }),
        )
        .await;
    assert_eq!(refusal(&foreign.next().await), "FORBIDDEN");
    assert_eq!(foreign.next().await["type"], "complete");
    foreign
        .subscribe(
            "3",
            "subscription($m: ID!) { walletUpdated(merchantId: $m) { cash } }",
            json!({ "m": a.merchant.id }),
        )
        .await;
    assert_eq!(refusal(&foreign.next().await), "FORBIDDEN");
    // The owner of the entry may watch it.
    let (mut owner, _) = WsClient::connect(address, &a.shoppers[0].0).await;
    owner.subscribe("4", POSITION, json!({ "id": entry })).await;
    assert_eq!(next_payload(&owner.next().await)["status"], "ACTIVE");
    // A bad token is refused at connection_init.
    let (mut bad, answer) = WsClient::connect(address, "not-a-token").await;
    assert_ne!(answer["type"], "connection_ack", "{answer}");
    assert_eq!(bad.next().await["type"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_subscribers_are_pinged_and_stay_connected() {
    let t = TestApp::with_config(|c| c.ws_keepalive = std::time::Duration::from_secs(1)).await;
    let shop = t.shop(1).await;
    let address = t.serve().await;
    let (mut ws, _) = WsClient::connect(address, &shop.shoppers[0].0).await;
    ws.subscribe(
        "w",
        "subscription($m: ID!) { walletUpdated(merchantId: $m) { points } }",
        json!({ "m": shop.merchant.id }),
    )
    .await;
    assert_eq!(ws.next().await["type"], "next");
    // Idle for several keep-alive periods: pings arrive, and the subscription still works.
    let mut pings = 0;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(3500) {
        if let Some(tokio_tungstenite::tungstenite::Message::Ping(_)) = ws.next_frame().await {
            pings += 1;
        }
    }
    assert!(pings >= 2, "{pings} pings");
    t.order(&shop, &shop.shoppers[0].1, "100.00", json!({}))
        .await;
    assert_eq!(
        ws.next().await["payload"]["data"]["walletUpdated"]["points"],
        5
    );
}

/// The server serves open subscription connections on threads of their own: a connection,
/// its writer and its subscriptions run there (and end there when the client leaves), and
/// events still reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_connections_are_served_on_the_live_threads() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let live = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let address = serve(t.app.clone().serve_live_on(live.handle().clone()).router()).await;
    let tasks = || live.metrics().num_alive_tasks();
    assert_eq!(tasks(), 0);

    let (mut ws, ack) = WsClient::connect(address, &shop.shoppers[0].0).await;
    assert_eq!(ack["type"], "connection_ack");
    ws.subscribe(
        "w",
        "subscription($m: ID!) { walletUpdated(merchantId: $m) { points } }",
        json!({ "m": shop.merchant.id }),
    )
    .await;
    assert_eq!(
        ws.next().await["payload"]["data"]["walletUpdated"]["points"],
        0
    );
    // The connection, its writer and the subscription.
    assert_eq!(tasks(), 3);
    t.order(&shop, &shop.shoppers[0].1, "100.00", json!({}))
        .await;
    assert_eq!(
        ws.next().await["payload"]["data"]["walletUpdated"]["points"],
        5
    );

    drop(ws);
    let started = std::time::Instant::now();
    while tasks() > 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{} tasks left on the live threads after the client left",
            tasks()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    live.shutdown_background();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_closed_when_its_token_expires() {
    let t = TestApp::with_config(|c| c.token_ttl = std::time::Duration::from_secs(2)).await;
    let shop = t.shop(1).await;
    let address = t.serve().await;
    let (mut ws, ack) = WsClient::connect(address, &shop.shoppers[0].0).await;
    assert_eq!(ack["type"], "connection_ack");
    ws.subscribe(
        "w",
        "subscription($m: ID!) { walletUpdated(merchantId: $m) { cash } }",
        json!({ "m": shop.merchant.id }),
    )
    .await;
    assert_eq!(ws.next().await["type"], "next");
    let started = std::time::Instant::now();
    assert_eq!(ws.next().await["type"], "closed");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Conflation: a subscriber that reads nothing while the queue moves on gets the newest
/// state in one message when it reads again, not the states in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_gets_the_newest_state_not_a_backlog() {
    use futures::StreamExt;
    let t = TestApp::new().await;
    let shop = t.shop(6).await;
    t.configure(
        &shop.merchant,
        json!({ "queue": { "enabled": true, "activeSlots": 1, "queueRatio": "0.40", "referralRatio": "0" } }),
    )
    .await;
    for (_, user) in &shop.shoppers[1..] {
        t.order(&shop, user, "100.00", json!({})).await;
    }
    let (token, me) = &shop.shoppers[0];
    let mine = t.order(&shop, me, "100.00", json!({})).await;
    let entry = t
        .ok(
            Some(token),
            "query($m: ID!) { membership(merchantId: $m) { queueEntries { id position } } }",
            json!({ "m": shop.merchant.id }),
        )
        .await["membership"]["queueEntries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(mine.get("errors").is_none(), "{mine}");

    // A subscriber reading straight from the schema, so the test decides when it reads.
    let principal = fenhong::auth::Principal::Shopper {
        user_id: me.parse().unwrap(),
    };
    let request = async_graphql::Request::new(
        "subscription($id: ID!) { queuePosition(entryId: $id) { position status } }",
    )
    .variables(async_graphql::Variables::from_json(json!({ "id": entry })))
    .data(principal);
    let mut stream = t.app.schema.execute_stream(request);
    let first = stream.next().await.unwrap().data.into_json().unwrap();
    let start = first["queuePosition"]["position"].as_i64().unwrap();
    assert!(start > 3, "her entry waits behind others: {first}");

    // Eight orders by others while she reads nothing: each moves the queue.
    for i in 0..8 {
        let (_, user) = &shop.shoppers[1 + i % 5];
        t.order(&shop, user, "100.00", json!({})).await;
    }
    let truth = t
        .ok(
            Some(token),
            "query($id: ID!) { queueEntry(id: $id) { position status } }",
            json!({ "id": entry }),
        )
        .await["queueEntry"]
        .clone();
    assert!(truth["position"].as_i64().unwrap() < start - 1, "{truth}");
    // Let the relay publish every event to this instance's subscribers.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let next = tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
        .await
        .expect("an update")
        .unwrap()
        .data
        .into_json()
        .unwrap();
    assert_eq!(next["queuePosition"], truth, "the newest state at once");
    let more = tokio::time::timeout(std::time::Duration::from_millis(500), stream.next()).await;
    assert!(
        more.is_err(),
        "no backlog of older states follows: {more:?}"
    );
}

/// The relay publishes a merchant's events in their order even while another transaction
/// holds one of them (the subscribe-message planner marks the rows it reads, and a second
/// instance's relay claims rows too). Publishing past a held row sent later events first:
/// every subscriber saw a gap and re-read its state from the database, all at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_in_order_past_a_row_another_transaction_holds() {
    use fenhong::live::{memory::MemoryLive, outbox, EventKind, LiveEvent, LiveHub, LiveSignal};
    use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
    use std::{sync::Arc, time::Duration};

    let (url, _) = fresh_database_url().await;
    let db = fenhong::db::connect(&url).await.expect("connect");
    if db.get_database_backend() != DbBackend::Postgres {
        return; // SQLite has no row locks: one writer at a time (`db::claim_writer`).
    }
    fenhong::db::migrate(&db).await.expect("migrate");
    let now = chrono::Utc::now();
    let (merchant, _) = fenhong::services::merchants::create_merchant(
        &db,
        "Relay order",
        None,
        "relay.owner",
        "relay-password",
        now,
    )
    .await
    .expect("merchant");
    let events: Vec<LiveEvent> = (1..=3)
        .map(|seq| LiveEvent {
            merchant_id: merchant.id,
            seq,
            at: now,
            kind: EventKind::WalletsChanged,
            wallets: vec![],
            queue: None,
        })
        .collect();
    let tx = db.begin().await.expect("begin");
    outbox::insert_many(&tx, &events).await.expect("events");
    tx.commit().await.expect("commit");

    // Another transaction holds the first event's row, as the planner does while it plans.
    let other = fenhong::db::connect(&url).await.expect("connect");
    let holder = other.begin().await.expect("begin");
    holder
        .execute_unprepared(&format!(
            "UPDATE live_outbox SET notified_at = now() WHERE merchant_id = {} AND seq = 1",
            merchant.id
        ))
        .await
        .expect("hold the first row");

    let (signals, mut heard) = tokio::sync::broadcast::channel(16);
    let hub = LiveHub {
        backend: Arc::new(MemoryLive::new(signals.clone())),
        signals,
        wake: Default::default(),
    };
    let relay = tokio::spawn(async move { outbox::drain(&db, &hub).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    holder.commit().await.expect("release");
    let published = tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("the relay finishes once the row is released")
        .expect("task")
        .expect("drain");

    let mut order = Vec::new();
    while let Ok(LiveSignal::Event(event)) = heard.try_recv() {
        order.push(event.seq);
    }
    assert_eq!(published, 3);
    assert_eq!(order, vec![1, 2, 3], "events in their order, none skipped");
}
