//! The queue free-order program end to end (RULES.md "A sequence from an empty queue").

use serde_json::{json, Value};

use crate::helpers::*;

const QUEUE_RULES: &str =
    r#"{ "enabled": true, "activeSlots": 3, "queueRatio": "0.40", "referralRatio": "0.20" }"#;

pub fn queue_rules() -> Value {
    serde_json::from_str(QUEUE_RULES).unwrap()
}

const ENTRY: &str = "query($id: ID!) { queueEntry(id: $id) { status position target received etaSeconds order { amount } } }";

struct Person {
    token: String,
    id: String,
}

/// A merchant with the queue program on and members A–G and P (F joined through P's code).
async fn queue_shop(t: &TestApp) -> (Merchant, String, Vec<(char, Person)>) {
    let m = t.merchant_with_store("Queue shop").await;
    t.configure(&m, json!({ "queue": queue_rules() })).await;
    let cashier = t.staff(&m, "CASHIER").await;
    let mut people = Vec::new();
    let mut p_scene = String::new();
    for name in ['P', 'A', 'B', 'C', 'D', 'E', 'F', 'G'] {
        let (token, id) = t.shopper(&unique(&format!("{name}-"))).await;
        let scene = if name == 'F' {
            p_scene.clone()
        } else {
            m.store_scene.clone()
        };
        let joined = t.join(&token, &scene).await;
        if name == 'P' {
            p_scene = joined["referralCode"]["scene"].as_str().unwrap().to_owned();
        }
        people.push((name, Person { token, id }));
    }
    (m, cashier, people)
}

fn person(people: &[(char, Person)], name: char) -> &Person {
    &people.iter().find(|(n, _)| *n == name).unwrap().1
}

#[tokio::test]
async fn the_rules_md_sequence_from_an_empty_queue() {
    let t = TestApp::new().await;
    let (m, cashier, people) = queue_shop(&t).await;
    let rows: [(char, &str, &str); 7] = [
        ('A', "1000", "600.00"),
        ('B', "1000", "200.00"),
        ('C', "1000", "0.00"),
        ('D', "600", "0.00"),
        ('E', "1000", "180.00"),
        ('F', "200", "0.02"),
        ('G', "300", "0.02"),
    ];
    let mut entries = Vec::new();
    let mut rewards_of_f = Value::Null;
    for (name, amount, pool) in rows {
        let response = t
            .ok(
                Some(&cashier),
                "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { queueEntry { id status position target } rewards { kind amount beneficiary { id } } } }",
                json!({ "i": { "storeId": m.store_id, "userId": person(&people, name).id, "amount": amount, "idempotencyKey": format!("o-{name}"), "complete": true } }),
            )
            .await;
        let order = &response["recordOrder"];
        entries.push((name, order["queueEntry"]["id"].as_str().unwrap().to_owned()));
        if name == 'F' {
            rewards_of_f = order["rewards"].clone();
        }
        let stats = t
            .ok(
                Some(&m.owner_token),
                "query($m: ID!) { merchant(id: $m) { queueStats { pool } } }",
                json!({ "m": m.id }),
            )
            .await;
        assert_eq!(
            stats["merchant"]["queueStats"]["pool"], pool,
            "pool after {name}'s order"
        );
    }
    let p = &person(&people, 'P').id;
    let shares: Vec<(&str, &str)> = rewards_of_f
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["amount"].as_str().unwrap()))
        .collect();
    assert!(shares.contains(&("REFERRAL", "40.00")));
    assert_eq!(
        shares
            .iter()
            .filter(|s| **s == ("QUEUE_SHARE", "86.66"))
            .count(),
        3
    );
    assert!(shares.contains(&("POOL_CARRY", "0.02")));
    assert_eq!(
        rewards_of_f
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == "REFERRAL")
            .unwrap()["beneficiary"]["id"],
        p.as_str()
    );

    // Wallets after g: A and B were paid back in full.
    for (name, cash) in [
        ('A', "1000.00"),
        ('B', "1000.00"),
        ('C', "526.66"),
        ('D', "346.66"),
        ('E', "146.66"),
        ('F', "0.00"),
        ('G', "0.00"),
        ('P', "40.00"),
    ] {
        let wallet = t.wallet(&person(&people, name).token, &m.id).await;
        assert_eq!(wallet["cash"], cash, "{name}'s cash");
    }
    // Positions: C, D, E active; F and G waiting behind them.
    let expected = [
        ('A', "COMPLETED", Value::Null, "1000.00"),
        ('B', "COMPLETED", Value::Null, "1000.00"),
        ('C', "ACTIVE", json!(1), "526.66"),
        ('D', "ACTIVE", json!(2), "346.66"),
        ('E', "ACTIVE", json!(3), "146.66"),
        ('F', "WAITING", json!(4), "0.00"),
        ('G', "WAITING", json!(5), "0.00"),
    ];
    for ((name, status, position, received), (_, id)) in expected.iter().zip(&entries) {
        let entry = t
            .ok(
                Some(&person(&people, *name).token),
                ENTRY,
                json!({ "id": id }),
            )
            .await;
        let entry = &entry["queueEntry"];
        assert_eq!(entry["status"], *status, "{name}");
        assert_eq!(entry["position"], *position, "{name}");
        assert_eq!(entry["received"], *received, "{name}");
    }
    let stats = t
        .ok(
            Some(&m.owner_token),
            "query($m: ID!) { merchant(id: $m) { queueStats { waiting active completed pool } } }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(
        stats["merchant"]["queueStats"],
        json!({ "waiting": 2, "active": 3, "completed": 2, "pool": "0.02" })
    );
    // The member sees their own entries; another shopper may not look at them.
    let mine = t
        .ok(
            Some(&person(&people, 'C').token),
            "query($m: ID!) { membership(merchantId: $m) { queueEntries { status received } } }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(
        mine["membership"]["queueEntries"],
        json!([{ "status": "ACTIVE", "received": "526.66" }])
    );
    let snooping = t
        .gql(
            Some(&person(&people, 'G').token),
            ENTRY,
            json!({ "id": entries[2].1 }),
        )
        .await;
    assert_eq!(error_code(&snooping), "FORBIDDEN");
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_paused_queue_takes_no_entries_and_pays_its_queue_when_resumed() {
    let t = TestApp::new().await;
    let shop = t.shop(3).await;
    t.configure(&shop.merchant, json!({ "queue": queue_rules() }))
        .await;
    let (a, b, c) = (&shop.shoppers[0], &shop.shoppers[1], &shop.shoppers[2]);
    t.order(&shop, &a.1, "100.00", json!({})).await; // A queued, pool 60
    let mut paused = queue_rules();
    paused["enabled"] = json!(false);
    t.configure(&shop.merchant, json!({ "queue": paused }))
        .await;
    let during = t.order(&shop, &b.1, "500.00", json!({})).await;
    assert_eq!(
        during["data"]["recordOrder"]["rewards"],
        json!([{ "kind": "REBATE_POINTS", "amount": "25", "unit": "POINTS", "beneficiary": { "id": b.1 } }])
    );
    assert_eq!(t.wallet(&a.0, &shop.merchant.id).await["cash"], "0.00");
    t.configure(&shop.merchant, json!({ "queue": queue_rules() }))
        .await;
    // Resumed: C's order pays A, still first in line: 60 + 60 (no referrer) + pool 60 = 100 capped.
    let after = t.order(&shop, &c.1, "100.00", json!({})).await;
    assert!(after.get("errors").is_none(), "{after}");
    assert_eq!(t.wallet(&a.0, &shop.merchant.id).await["cash"], "100.00");
    let stats = t
        .ok(
            Some(&shop.merchant.owner_token),
            "query($m: ID!) { merchant(id: $m) { queueStats { waiting active completed pool } } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    // A completed; B never joined; C is the one live entry; 120 − 100 = 20 left in the pool.
    assert_eq!(
        stats["merchant"]["queueStats"],
        json!({ "waiting": 0, "active": 1, "completed": 1, "pool": "20.00" })
    );
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn minimum_order_amount_two_levels_and_a_cap_of_one_and_a_half() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Two levels").await;
    t.configure(
        &m,
        json!({ "queue": { "enabled": true, "activeSlots": 2, "queueRatio": "0.40", "referralRatio": "0.15", "secondLevelRatio": "0.05", "capMultiple": "1.5", "minOrderAmount": "50.00" } }),
    )
    .await;
    let cashier = t.staff(&m, "CASHIER").await;
    // X ← Y ← Z: Z's order pays Y (first level) and X (second level).
    let (x, x_id) = t.shopper("x").await;
    let x_scene = t.join(&x, &m.store_scene).await["referralCode"]["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let (y, y_id) = t.shopper("y").await;
    let y_scene = t.join(&y, &x_scene).await["referralCode"]["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let (z, z_id) = t.shopper("z").await;
    t.join(&z, &y_scene).await;
    let record = |user: String, amount: &'static str, key: &'static str| {
        let cashier = cashier.clone();
        let store = m.store_id.clone();
        let t = &t;
        async move {
            t.ok(
                Some(&cashier),
                "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { queueEntry { target } rewards { kind amount beneficiary { id } } } }",
                json!({ "i": { "storeId": store, "userId": user, "amount": amount, "idempotencyKey": key, "complete": true } }),
            )
            .await["recordOrder"]
                .clone()
        }
    };
    // Below the minimum: no entry, no budget, no referral.
    let small = record(z_id.clone(), "49.99", "small").await;
    assert_eq!(small, json!({ "queueEntry": null, "rewards": [] }));
    let first = record(x_id.clone(), "100.00", "x1").await;
    assert_eq!(first["queueEntry"]["target"], "150.00");
    let third = record(z_id.clone(), "1000.00", "z1").await;
    let rewards: Vec<(String, String, String)> = third["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["amount"].as_str().unwrap().into(),
                r["beneficiary"]["id"].as_str().unwrap_or("pool").into(),
            )
        })
        .collect();
    // X's order met an empty queue: its 40 + 15 + 5 (no referrers) went to the pool. Z's
    // budget is 400 + that 60 = 460; X's entry caps at 150 and 310 stays in the pool.
    assert!(
        rewards.contains(&("REFERRAL".into(), "150.00".into(), y_id.clone())),
        "{rewards:?}"
    );
    assert!(
        rewards.contains(&("REFERRAL_SECOND_LEVEL".into(), "50.00".into(), x_id.clone())),
        "{rewards:?}"
    );
    assert!(
        rewards.contains(&("QUEUE_SHARE".into(), "150.00".into(), x_id.clone())),
        "{rewards:?}"
    );
    assert!(
        rewards.contains(&("POOL_CARRY".into(), "310.00".into(), "pool".into())),
        "{rewards:?}"
    );
    assert_eq!(t.wallet(&x, &m.id).await["cash"], "200.00");
    assert_eq!(t.wallet(&y, &m.id).await["cash"], "150.00");
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn the_simulator_runs_the_same_engine_without_writing() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Sim").await;
    let orders: Vec<Value> = [("A", "1000"), ("B", "1000"), ("C", "1000"), ("D", "600"), ("E", "1000"), ("F", "200"), ("G", "300")]
        .iter()
        .map(|(u, a)| json!({ "user": u, "amount": a, "referrer": if *u == "F" { json!("P") } else { Value::Null } }))
        .collect();
    let before = t.count("ledger_postings").await;
    let data = t
        .ok(
            Some(&m.owner_token),
            "query($r: QueueRulesInput!, $o: [SimulatedOrderInput!]!) { simulateQueue(rules: $r, orders: $o) { pool completedOrders waitingOrders totalPaid payoutRatio payouts { order user kind amount } } }",
            json!({ "r": queue_rules(), "o": orders }),
        )
        .await;
    let sim = &data["simulateQueue"];
    assert_eq!(
        (
            sim["pool"].as_str(),
            sim["completedOrders"].as_i64(),
            sim["waitingOrders"].as_i64()
        ),
        (Some("0.02"), Some(2), Some(5))
    );
    assert_eq!(sim["totalPaid"], "3059.98");
    assert_eq!(sim["payoutRatio"], "0.5999");
    assert!(sim["payouts"]
        .as_array()
        .unwrap()
        .contains(&json!({ "order": 6, "user": "P", "kind": "REFERRAL", "amount": "40.00" })));
    assert_eq!(t.count("ledger_postings").await, before);
    let (shopper, _) = t.shopper("curious").await;
    let refused = t
        .gql(
            Some(&shopper),
            "query($r: QueueRulesInput!) { simulateQueue(rules: $r, orders: []) { pool } }",
            json!({ "r": queue_rules() }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let bad = t
        .gql(Some(&m.owner_token), "query($r: QueueRulesInput!) { simulateQueue(rules: $r, orders: [{ user: \"A\", amount: \"1.001\" }]) { pool } }", json!({ "r": queue_rules() }))
        .await;
    assert_eq!(error_code(&bad), "INVALID_INPUT");
}

#[tokio::test]
async fn eta_comes_from_the_recent_pace_of_the_queue() {
    let t = TestApp::new().await;
    let (m, cashier, people) = queue_shop(&t).await;
    let mut entries = Vec::new();
    for (name, amount) in [
        ('A', "1000"),
        ('B', "1000"),
        ('C', "1000"),
        ('D', "600"),
        ('E', "1000"),
        ('F', "200"),
        ('G', "300"),
    ] {
        let response = t
            .ok(
                Some(&cashier),
                "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { queueEntry { id etaSeconds } } }",
                json!({ "i": { "storeId": m.store_id, "userId": person(&people, name).id, "amount": amount, "idempotencyKey": format!("o-{name}"), "complete": true } }),
            )
            .await;
        let entry = &response["recordOrder"]["queueEntry"];
        if name == 'A' {
            // Nothing has completed yet: no basis for an estimate.
            assert_eq!(entry["etaSeconds"], Value::Null);
        }
        entries.push(entry["id"].as_str().unwrap().to_owned());
        t.clock.advance(chrono::Duration::minutes(10));
    }
    // A completed at 10 min (order b), B at 40 min (order e); now is 70 min: 30 min per
    // completed entry over the last two. C is first (1 800 s), G fifth (9 000 s).
    for (index, name, eta) in [(2, 'C', 1800), (6, 'G', 9000)] {
        let data = t
            .ok(
                Some(&person(&people, name).token),
                "query($id: ID!) { queueEntry(id: $id) { position etaSeconds } }",
                json!({ "id": entries[index] }),
            )
            .await;
        assert_eq!(data["queueEntry"]["etaSeconds"], eta, "{name}: {data}");
    }
    let done = t
        .ok(
            Some(&person(&people, 'A').token),
            "query($id: ID!) { queueEntry(id: $id) { etaSeconds } }",
            json!({ "id": entries[0] }),
        )
        .await;
    assert_eq!(done["queueEntry"]["etaSeconds"], Value::Null);
}
