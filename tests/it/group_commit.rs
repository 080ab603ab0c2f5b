//! Group commit changes nothing but speed: a random stream of orders (with referrers, points,
//! replayed keys, reused keys with other content, orders completed later or refunded) sent
//! by concurrent clients through batching, and the same stream settled one order at a time
//! without it in the order the batched run committed, leave identical databases and
//! identical live events, on SQLite and PostgreSQL, with one instance and with two, and with
//! several merchants' streams at once.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{body::Body, http::Request, Router};
use chrono::{DateTime, Utc};
use entity::{
    ledger_account, ledger_posting, live_outbox, order, point_lot, queue_entry, queue_state,
};
use fenhong::clock::ManualClock;
use http_body_util::BodyExt;
use rand::{rngs::StdRng, Rng, SeedableRng};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::helpers::{Merchant, TestApp};

/// One request of the stream.
#[derive(Clone, Debug)]
enum Op {
    Record {
        key: String,
        user: usize,
        amount: String,
        points: i64,
        complete: bool,
    },
    Complete {
        key: String,
    },
    Refund {
        key: String,
    },
}

struct Stream {
    /// Sent concurrently, in any order.
    first: Vec<Op>,
    /// Sent concurrently after `first` has been answered (completions and refunds of orders
    /// it left unpaid, and more orders).
    second: Vec<Op>,
}

fn amount(rng: &mut StdRng) -> String {
    format!("{}.{:02}", rng.gen_range(10..300), rng.gen_range(0..100))
}

fn stream(seed: u64, shoppers: usize) -> Stream {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut first: Vec<Op> = Vec::new();
    let mut unpaid = Vec::new();
    for i in 0..70 {
        let roll = rng.gen_range(0..100);
        let earlier: Vec<Op> = first
            .iter()
            .filter(|op| matches!(op, Op::Record { .. }))
            .cloned()
            .collect();
        let op = if roll < 12 && !earlier.is_empty() {
            // A replay: the same key with the same content.
            earlier[rng.gen_range(0..earlier.len())].clone()
        } else if roll < 20 && !earlier.is_empty() {
            // The same key with other content: a CONFLICT.
            match earlier[rng.gen_range(0..earlier.len())].clone() {
                Op::Record {
                    key,
                    user,
                    points,
                    complete,
                    ..
                } => Op::Record {
                    key,
                    user,
                    amount: "999.99".into(),
                    points,
                    complete,
                },
                other => other,
            }
        } else {
            let complete = roll >= 36;
            let key = format!("k{i}");
            if !complete {
                unpaid.push(key.clone());
            }
            Op::Record {
                key,
                user: rng.gen_range(0..shoppers),
                amount: amount(&mut rng),
                // Sometimes more points than she has or than the order allows.
                points: if rng.gen_range(0..4) == 0 {
                    rng.gen_range(1..40)
                } else {
                    0
                },
                complete,
            }
        };
        first.push(op);
    }
    let mut second = Vec::new();
    for key in unpaid {
        second.push(if rng.gen_range(0..2) == 0 {
            Op::Complete { key }
        } else {
            Op::Refund { key }
        });
    }
    for i in 0..25 {
        second.push(Op::Record {
            key: format!("m{i}"),
            user: rng.gen_range(0..shoppers),
            amount: amount(&mut rng),
            points: 0,
            complete: true,
        });
    }
    // Interleave the completions and refunds with the new orders.
    for i in (1..second.len()).rev() {
        let j = rng.gen_range(0..=i);
        second.swap(i, j);
    }
    Stream { first, second }
}

/// A café with every program on and shoppers in a referral chain, who each bought once
/// (so they have points to spend). Built the same way in every run, so ids match.
struct Cafe {
    merchant: Merchant,
    cashier: String,
    users: Vec<String>,
}

async fn build_cafe(app: &TestApp, shoppers: usize, value_added: bool) -> Cafe {
    let merchant = app.merchant_with_store("Group commit café").await;
    app.configure(
        &merchant,
        json!({
            "queue": { "enabled": true, "activeSlots": 3, "queueRatio": "0.30", "referralRatio": "0.10", "secondLevelRatio": "0.05" },
            "rebate": { "enabled": true, "rebateRate": "0.05", "pointValue": "1.00", "maxDeductionRatio": "0.50" },
            "valueAdded": { "enabled": value_added, "poolRatio": "0.20", "mintRatio": "0.30" },
        }),
    )
    .await;
    let cashier = app.staff(&merchant, "CASHIER").await;
    let mut users = Vec::new();
    let mut scene = merchant.store_scene.clone();
    for i in 0..shoppers {
        let (token, user) = app.shopper(&format!("gc-shopper-{i}")).await;
        let joined = app.join(&token, &scene).await;
        // Every other shopper refers the next one: chains of two levels.
        scene = if i % 2 == 0 {
            joined["referralCode"]["scene"].as_str().unwrap().to_owned()
        } else {
            merchant.store_scene.clone()
        };
        users.push(user);
    }
    let cafe = Cafe {
        merchant,
        cashier,
        users,
    };
    for (i, _) in cafe.users.iter().enumerate() {
        let op = Op::Record {
            key: format!("warm{i}"),
            user: i,
            amount: "300.00".into(),
            points: 0,
            complete: true,
        };
        send(&app.router, &cafe, &op, &HashMap::new())
            .await
            .expect("the warm-up order");
    }
    cafe
}

async fn post(router: &Router, token: &str, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Sends one request; returns the order's id when it succeeded (else the error code).
async fn send(
    router: &Router,
    cafe: &Cafe,
    op: &Op,
    order_ids: &HashMap<String, String>,
) -> Result<String, String> {
    let answer = match op {
        Op::Record {
            key,
            user,
            amount,
            points,
            complete,
        } => {
            post(
                router,
                &cafe.cashier,
                "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }",
                json!({ "i": {
                    "storeId": cafe.merchant.store_id, "userId": cafe.users[*user], "amount": amount,
                    "pointsToUse": points, "idempotencyKey": key, "complete": complete,
                } }),
            )
            .await
        }
        Op::Complete { key } => {
            post(
                router,
                &cafe.cashier,
                "mutation($o: ID!) { completeOrder(orderId: $o) { id } }",
                json!({ "o": order_ids[key] }),
            )
            .await
        }
        Op::Refund { key } => {
            post(
                router,
                &cafe.cashier,
                "mutation($o: ID!) { refundOrder(orderId: $o, reason: \"changed her mind\") { id } }",
                json!({ "o": order_ids[key] }),
            )
            .await
        }
    };
    match answer["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => Err(code.to_owned()),
        None => {
            let data = &answer["data"];
            let order = data["recordOrder"]
                .as_object()
                .or(data["completeOrder"].as_object())
                .or(data["refundOrder"].as_object())
                .unwrap_or_else(|| panic!("{answer}"));
            Ok(order["id"].as_str().unwrap().to_owned())
        }
    }
}

/// Sends `ops` from `clients` concurrent clients, spread over `routers`.
async fn send_concurrently(
    clock: &Arc<ManualClock>,
    routers: &[Router],
    cafe: &Arc<Cafe>,
    ops: Vec<Op>,
    order_ids: &Arc<Mutex<HashMap<String, String>>>,
    clients: usize,
) {
    let queue = Arc::new(Mutex::new(VecDeque::from(ops)));
    let mut tasks = Vec::new();
    for client in 0..clients {
        let router = routers[client % routers.len()].clone();
        let (queue, cafe, order_ids) = (queue.clone(), cafe.clone(), order_ids.clone());
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(op) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let known = order_ids.lock().unwrap().clone();
                // Time moves on with every request, so completions have distinct times
                // (and the queue a pace to measure).
                clock.advance(chrono::Duration::milliseconds(700));
                // A completion or refund of an order that was never recorded (refused).
                if let Op::Complete { key } | Op::Refund { key } = &op {
                    if !known.contains_key(key) {
                        continue;
                    }
                }
                let result = send(&router, &cafe, &op, &known).await;
                if let (Op::Record { key, .. }, Ok(id)) = (&op, &result) {
                    order_ids.lock().unwrap().insert(key.clone(), id.clone());
                }
                // Every answer is an order or one of the errors a single request gives.
                if let Err(code) = &result {
                    assert!(
                        ["CONFLICT", "INVALID_INPUT", "INSUFFICIENT_FUNDS"]
                            .contains(&code.as_str()),
                        "{op:?}: {code}"
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Everything the stream changed at `merchant_id`, with ids replaced by what they stand for
/// (an order by its idempotency key, an entry by its order's key), so two databases compare
/// equal when they hold the same facts.
async fn state(db: &DatabaseConnection, merchant_id: i64) -> BTreeMap<&'static str, Vec<String>> {
    let orders = order::Entity::find().all(db).await.unwrap();
    let key_of: HashMap<i64, String> = orders
        .iter()
        .map(|o| (o.id, o.idempotency_key.clone()))
        .collect();
    let key = |id: Option<i64>| id.map_or("-".to_owned(), |id| key_of[&id].clone());
    let entries = queue_entry::Entity::find().all(db).await.unwrap();
    let entry_key: HashMap<i64, String> = entries
        .iter()
        .map(|e| (e.id, key_of[&e.order_id].clone()))
        .collect();
    let accounts = ledger_account::Entity::find().all(db).await.unwrap();
    let account: HashMap<i64, String> = accounts
        .iter()
        .map(|a| {
            (
                a.id,
                format!("{}:{}:{}:{}", a.owner_kind, a.owner_id, a.kind, a.unit),
            )
        })
        .collect();
    let mut out = BTreeMap::new();
    let mut rows: Vec<String> = orders
        .iter()
        .filter(|o| o.merchant_id == merchant_id)
        .map(|o| {
            format!(
                "{} user={} amount={} cash={} points={} status={} version={:?} completed={:?} refunded={:?}",
                o.idempotency_key, o.user_id, o.amount, o.cash_paid, o.points_used, o.status,
                o.program_version, o.completed_at, o.refunded_at
            )
        })
        .collect();
    rows.sort();
    out.insert("orders", rows);
    let mut rows: Vec<String> = entries
        .iter()
        .filter(|e| e.merchant_id == merchant_id)
        .map(|e| {
            format!(
                "{} ordinal={} user={} target={} received={} status={}",
                key(Some(e.order_id)),
                e.ordinal,
                e.user_id,
                e.target,
                e.received,
                e.status
            )
        })
        .collect();
    rows.sort();
    out.insert("queue entries", rows);
    let mut rows: Vec<String> = ledger_posting::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|p| p.merchant_id == merchant_id)
        .map(|p| {
            format!(
                "{} {} {} {} order={}",
                account[&p.account_id],
                p.unit,
                p.amount,
                p.kind,
                key(p.order_id)
            )
        })
        .collect();
    rows.sort();
    out.insert("postings", rows);
    let mut rows: Vec<String> = accounts
        .iter()
        .filter(|a| a.merchant_id == merchant_id)
        .map(|a| format!("{} balance={}", account[&a.id], a.balance))
        .collect();
    rows.sort();
    out.insert("balances", rows);
    let mut rows: Vec<String> = point_lot::Entity::find()
        .all(db)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.merchant_id == merchant_id)
        .map(|l| {
            format!(
                "user={} order={} points={} remaining={} expires={:?}",
                l.user_id,
                key(l.order_id),
                l.points,
                l.remaining,
                l.expires_at
            )
        })
        .collect();
    rows.sort();
    out.insert("point lots", rows);
    let states = queue_state::Entity::find().all(db).await.unwrap();
    out.insert(
        "queue state",
        states
            .iter()
            .filter(|s| s.merchant_id == merchant_id)
            .map(|s| {
                format!(
                    "merchant={} next={} live={} completed={} seq={}",
                    s.merchant_id, s.next_ordinal, s.live_count, s.completed_count, s.event_seq
                )
            })
            .collect(),
    );
    // The live events in their order, as subscribers receive them.
    let events = live_outbox::Entity::find()
        .order_by_asc(live_outbox::Column::Seq)
        .all(db)
        .await
        .unwrap();
    let rows = events
        .iter()
        .filter(|e| e.merchant_id == merchant_id)
        .map(|e| {
            let mut v: Value = serde_json::from_str(&e.payload).unwrap();
            if let Some(id) = v["kind"]["order_id"].as_i64() {
                v["kind"]["order_id"] = json!(key(Some(id)));
            }
            if let Some(queue) = v.get_mut("queue").filter(|q| !q.is_null()) {
                for list in ["active", "changed"] {
                    for item in queue[list].as_array_mut().unwrap() {
                        item[0] = json!(entry_key[&item[0].as_i64().unwrap()]);
                    }
                }
                if let Some(joined) = queue["joined"].as_array_mut() {
                    joined[0] = json!(entry_key[&joined[0].as_i64().unwrap()]);
                }
            }
            format!("seq={} {}", e.seq, v)
        })
        .collect();
    out.insert("live events", rows);
    out
}

/// The order the batched run settled things in, as requests to replay one at a time: each
/// event is the request that caused it, with the content the order was recorded with (a key
/// sent twice with different content records whichever came first).
/// Each request comes with the time its event was written at (the time it ran at).
async fn committed_order(db: &DatabaseConnection, cafe: &Cafe) -> Vec<(Op, DateTime<Utc>)> {
    let merchant_id: i64 = cafe.merchant.id.parse().unwrap();
    let orders: HashMap<i64, order::Model> = order::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let events = live_outbox::Entity::find()
        .order_by_asc(live_outbox::Column::Seq)
        .all(db)
        .await
        .unwrap();
    let mut paid = std::collections::HashSet::new();
    let mut ops = Vec::new();
    for e in events.iter().filter(|e| e.merchant_id == merchant_id) {
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        let Some(id) = v["kind"]["order_id"].as_i64() else {
            continue;
        };
        let o = &orders[&id];
        let at = e.created_at;
        let key = o.idempotency_key.clone();
        if key.starts_with("warm") {
            continue;
        }
        let record = |complete: bool| Op::Record {
            key: key.clone(),
            user: cafe
                .users
                .iter()
                .position(|u| u == &o.user_id.to_string())
                .unwrap(),
            amount: format!("{}.{:02}", o.amount / 100, o.amount % 100),
            points: o.points_used,
            complete,
        };
        match v["kind"]["type"].as_str().unwrap() {
            "OrderPaid" => {
                paid.insert(key.clone());
                ops.push((record(false), at));
            }
            "OrderCompleted" if paid.contains(&key) => ops.push((Op::Complete { key }, at)),
            "OrderCompleted" => ops.push((record(true), at)),
            "OrderRefunded" => ops.push((Op::Refund { key }, at)),
            other => panic!("unexpected event {other}"),
        }
    }
    ops
}

/// `value_added`: with the value-added program on, every order settles through its own code
/// in a shared transaction; with it off, runs of orders paid in cash and completed at once
/// settle in memory (`batch_settle`) between the others. `cafes`: merchants whose streams are
/// sent at once (each its own stream), their batches settled side by side.
async fn differential(seed: u64, instances: usize, value_added: bool, cafes: usize) {
    const SHOPPERS: usize = 6;
    let streams: Vec<Stream> = (0..cafes as u64)
        .map(|k| stream(seed + k, SHOPPERS))
        .collect();

    // Batched: concurrent clients (over one or two instances).
    let batched = TestApp::with_config(|c| {
        c.group_commit = true;
        c.group_commit_max = 16;
    })
    .await;
    let mut built = Vec::new();
    for _ in 0..cafes {
        built.push(Arc::new(build_cafe(&batched, SHOPPERS, value_added).await));
    }
    let mut routers = vec![batched.router.clone()];
    let second = if instances > 1 {
        let second = batched.second_instance().await;
        routers.push(second.router());
        Some(second)
    } else {
        None
    };
    // Each café's orders by key (keys repeat between cafés).
    let ids: Vec<_> = (0..cafes)
        .map(|_| Arc::new(Mutex::new(HashMap::new())))
        .collect();
    let clock = &batched.clock;
    // Eight clients for one café, four each for several (two per instance with two).
    let clients = if cafes > 1 { 4 } else { 8 };
    for phase in [0, 1] {
        futures::future::join_all(built.iter().zip(&streams).zip(&ids).map(
            |((cafe, stream), ids)| {
                let ops = if phase == 0 {
                    stream.first.clone()
                } else {
                    stream.second.clone()
                };
                send_concurrently(clock, &routers, cafe, ops, ids, clients)
            },
        ))
        .await;
    }
    let apps = || std::iter::once(&batched.app).chain(second.as_ref());
    let grouped: u64 = apps().map(|app| app.state.commits.grouped()).sum();
    assert!(
        grouped > 0,
        "some orders were settled in a shared transaction"
    );
    let in_memory: u64 = apps().map(|app| app.state.commits.in_memory()).sum();
    if value_added {
        assert_eq!(
            in_memory, 0,
            "the value-added program settles order by order"
        );
    } else {
        assert!(
            in_memory > 0,
            "some runs of cash orders were settled in memory"
        );
    }
    let mut replays = Vec::new();
    for cafe in &built {
        let replay = committed_order(&batched.app.state.db, cafe).await;
        assert!(
            replay.len() > 40,
            "the stream settled {} requests",
            replay.len()
        );
        replays.push(replay);
    }

    // Serial: no batching, one request at a time, each café's in the order the batched run
    // committed them (cafés share nothing).
    let serial = TestApp::with_config(|c| c.group_commit = false).await;
    let mut serial_cafes = Vec::new();
    for _ in 0..cafes {
        serial_cafes.push(build_cafe(&serial, SHOPPERS, value_added).await);
    }
    for (serial_cafe, replay) in serial_cafes.iter().zip(&replays) {
        let mut serial_ids = HashMap::new();
        for (op, at) in replay {
            serial.clock.set(*at);
            let result = send(&serial.router, serial_cafe, op, &serial_ids)
                .await
                .unwrap_or_else(|code| panic!("{op:?} failed alone: {code}"));
            if let Op::Record { key, .. } = op {
                serial_ids.insert(key.clone(), result);
            }
        }
    }

    for (cafe, serial_cafe) in built.iter().zip(&serial_cafes) {
        let merchant_id: i64 = cafe.merchant.id.parse().unwrap();
        let serial_merchant: i64 = serial_cafe.merchant.id.parse().unwrap();
        assert_eq!(
            merchant_id, serial_merchant,
            "both runs built the same café"
        );
        let left = state(&batched.app.state.db, merchant_id).await;
        let right = state(&serial.app.state.db, serial_merchant).await;
        for (table, rows) in &left {
            let other = &right[table];
            if let Some(i) = (0..rows.len().max(other.len())).find(|&i| rows.get(i) != other.get(i))
            {
                panic!(
                    "{table} of café {merchant_id} differ between batched and serial settling, first at row {i}:\n batched: {:?}\n serial:  {:?}",
                    rows.get(i),
                    other.get(i)
                );
            }
        }
    }
    batched.assert_audit_clean().await;
    serial.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_and_serial_settling_leave_the_same_state_and_events() {
    differential(11, 1, true, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_settled_in_memory_equal_serial_settling() {
    differential(37, 1, false, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batched_settling_on_two_instances_equals_serial_settling() {
    differential(23, 2, false, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_merchants_batched_at_once_on_two_instances_equal_serial_settling() {
    differential(51, 2, false, 3).await;
}
