//! Orders: idempotent recording, completion, refunds, auto-completion and bad input.

use chrono::Duration;
use serde_json::json;

use crate::helpers::*;

async fn writes(t: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "orders",
        "ledger_transactions",
        "ledger_postings",
        "point_lots",
        "withdrawals",
    ] {
        counts.push(t.count(table).await);
    }
    counts
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_first_order() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let user = &shop.shoppers[0].1;
    let input = json!({ "storeId": shop.merchant.store_id, "userId": user, "amount": "88.00", "idempotencyKey": "till-1-0001", "complete": true });
    let first = t
        .ok(Some(&shop.cashier), RECORD, json!({ "i": input }))
        .await;
    let again = t
        .ok(Some(&shop.cashier), RECORD, json!({ "i": input }))
        .await;
    assert_eq!(first["recordOrder"]["id"], again["recordOrder"]["id"]);
    assert_eq!(t.count("orders").await, 1);
    assert_eq!(t.count("point_lots").await, 1, "rewarded once");
    let mut changed = input.clone();
    changed["amount"] = json!("89.00");
    let conflict = t
        .gql(Some(&shop.cashier), RECORD, json!({ "i": changed }))
        .await;
    assert_eq!(error_code(&conflict), "CONFLICT");
    // The key is per merchant: another merchant may use the same one.
    let other = t.shop(1).await;
    let mut elsewhere = input.clone();
    elsewhere["storeId"] = json!(other.merchant.store_id);
    elsewhere["userId"] = json!(other.shoppers[0].1);
    t.ok(Some(&other.cashier), RECORD, json!({ "i": elsewhere }))
        .await;
    assert_eq!(t.count("orders").await, 2);
}

/// A key is kept exactly as given, whatever its characters (quotes, a backslash, Chinese,
/// an emoji, SQL's wildcards), and sent again it replays the order: on PostgreSQL the
/// orders of a settlement go to the database as JSON.
#[tokio::test]
async fn an_idempotency_key_is_kept_exactly_whatever_its_characters() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let user = &shop.shoppers[0].1;
    let key = "收银台 \"1\" \\ 'a' 🧾 %_";
    let record =
        "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id idempotencyKey amount } }";
    let input = json!({ "storeId": shop.merchant.store_id, "userId": user, "amount": "12.34", "idempotencyKey": key, "complete": true });
    let first = t
        .ok(Some(&shop.cashier), record, json!({ "i": input }))
        .await;
    assert_eq!(first["recordOrder"]["idempotencyKey"], key);
    assert_eq!(first["recordOrder"]["amount"], "12.34");
    let again = t
        .ok(Some(&shop.cashier), record, json!({ "i": input }))
        .await;
    assert_eq!(again["recordOrder"], first["recordOrder"]);
    assert_eq!(t.count("orders").await, 1);
}

#[tokio::test]
async fn orders_by_member_code_complete_later_and_list_by_status() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, _) = &shop.shoppers[0];
    let code = t
        .ok(
            Some(token),
            "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
            json!({ "m": shop.merchant.id }),
        )
        .await["membership"]["memberCode"]
        .as_str()
        .unwrap()
        .to_owned();
    let paid = t
        .ok(
            Some(&shop.cashier),
            RECORD,
            json!({ "i": { "storeId": shop.merchant.store_id, "memberCode": code, "amount": "300", "idempotencyKey": "a" } }),
        )
        .await;
    let order_id = paid["recordOrder"]["id"].as_str().unwrap().to_owned();
    assert_eq!(paid["recordOrder"]["status"], "PAID");
    assert_eq!(paid["recordOrder"]["amount"], "300.00");
    assert_eq!(paid["recordOrder"]["rewards"], json!([]));
    t.ok(
        Some(&shop.cashier),
        RECORD,
        json!({ "i": { "storeId": shop.merchant.store_id, "memberCode": code, "amount": "10", "idempotencyKey": "b" } }),
    )
    .await;
    let done = t
        .ok(Some(&shop.cashier), "mutation($o: ID!) { completeOrder(orderId: $o) { status completedAt rewards { kind amount } } }", json!({ "o": order_id }))
        .await;
    assert_eq!(done["completeOrder"]["status"], "COMPLETED");
    assert_eq!(
        done["completeOrder"]["completedAt"],
        "2026-03-01T09:00:00+00:00"
    );
    assert_eq!(
        done["completeOrder"]["rewards"],
        json!([{ "kind": "REBATE_POINTS", "amount": "15" }])
    );
    // Completed is final: not again, and not refundable through the reward system.
    for op in [
        "completeOrder(orderId: $o) { id }",
        "refundOrder(orderId: $o) { id }",
    ] {
        let response = t
            .gql(
                Some(&shop.cashier),
                &format!("mutation($o: ID!) {{ {op} }}"),
                json!({ "o": order_id }),
            )
            .await;
        assert_eq!(error_code(&response), "CONFLICT", "{op}");
    }
    let list = t
        .ok(
            Some(&shop.cashier),
            "query($m: ID!) { all: orders(merchantId: $m) { edges { node { amount } } } paid: orders(merchantId: $m, status: PAID) { edges { node { amount user { id } store { id } } } } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    assert_eq!(list["all"]["edges"].as_array().unwrap().len(), 2);
    assert_eq!(list["all"]["edges"][0]["node"]["amount"], "10.00");
    assert_eq!(list["paid"]["edges"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn paid_orders_complete_by_themselves_after_auto_complete_days() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    t.configure(&shop.merchant, json!({ "autoCompleteDays": 3 }))
        .await;
    let paid = t
        .order(&shop, user, "200.00", json!({ "complete": false }))
        .await;
    let order_id = paid["data"]["recordOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.clock.advance(Duration::days(3) - Duration::seconds(1));
    assert_eq!(t.sweep().await.orders_completed, 0);
    t.clock.advance(Duration::seconds(1));
    // Two instances sweeping at the same moment complete the order once.
    let (a, b) = tokio::join!(t.sweep(), t.sweep());
    assert_eq!(a.orders_completed + b.orders_completed, 1);
    let data = t
        .ok(Some(&shop.cashier), "query($m: ID!) { orders(merchantId: $m) { edges { node { id status completedAt } } } }", json!({ "m": shop.merchant.id }))
        .await;
    assert_eq!(data["orders"]["edges"][0]["node"]["id"], order_id.as_str());
    assert_eq!(data["orders"]["edges"][0]["node"]["status"], "COMPLETED");
    assert_eq!(t.wallet(token, &shop.merchant.id).await["points"], 10);
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn malformed_amounts_are_refused_and_write_nothing() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let user = &shop.shoppers[0].1;
    let before = writes(&t).await;
    for amount in [
        "0",
        "0.00",
        "-1",
        "-0.01",
        "1.001",
        "12.345",
        "1000000.01",
        "99999999",
        "abc",
        "",
        "1.2.3",
        // Loose forms a number parser would take: exponents, signs, a bare dot, digit
        // separators, whitespace, full-width digits, hexadecimal.
        "1e3",
        "1E3",
        "+10",
        "10.",
        ".5",
        "1_000",
        "1.5e1",
        " 10",
        "10 ",
        "\u{ff11}\u{ff10}",
        "0x10",
        "NaN",
    ] {
        let response = t.order(&shop, user, amount, json!({})).await;
        assert_eq!(
            error_code(&response),
            "INVALID_INPUT",
            "amount {amount:?}: {response}"
        );
    }
    let response = t
        .order(&shop, user, "10", json!({ "pointsToUse": -1 }))
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    let response = t
        .order(&shop, user, "10", json!({ "idempotencyKey": "" }))
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    let response = t.order(&shop, user, "10", json!({ "userId": null })).await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert_eq!(writes(&t).await, before);
    // The largest amount allowed is fine.
    let ok = t.order(&shop, user, "1000000.00", json!({})).await;
    assert!(ok.get("errors").is_none(), "{ok}");
}

#[tokio::test]
async fn unknown_and_foreign_ids_are_not_found_and_roles_are_enforced() {
    let t = TestApp::new().await;
    let a = t.shop(1).await;
    let b = t.shop(1).await;
    let (_, outsider) = t.shopper("outsider").await;
    let b_order = t
        .order(&b, &b.shoppers[0].1, "50", json!({ "complete": false }))
        .await;
    let b_order = b_order["data"]["recordOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = writes(&t).await;
    // A's cashier with B's store, a shopper not in A, an unknown store.
    for extra in [
        json!({ "storeId": b.merchant.store_id }),
        json!({ "userId": outsider }),
        json!({ "userId": b.shoppers[0].1 }),
        json!({ "storeId": "987654" }),
        json!({ "userId": null, "memberCode": "00000000x" }),
    ] {
        let response = t.order(&a, &a.shoppers[0].1, "10", extra.clone()).await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{extra}: {response}");
    }
    for op in [
        "completeOrder(orderId: $o) { id }",
        "refundOrder(orderId: $o) { id }",
    ] {
        let response = t
            .gql(
                Some(&a.cashier),
                &format!("mutation($o: ID!) {{ {op} }}"),
                json!({ "o": b_order }),
            )
            .await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{op}");
        let response = t
            .gql(
                Some(&a.cashier),
                &format!("mutation($o: ID!) {{ {op} }}"),
                json!({ "o": "424242" }),
            )
            .await;
        assert_eq!(error_code(&response), "NOT_FOUND", "{op}");
    }
    // A cashier may not do a manager's or owner's work; a shopper may not record orders.
    let manager_ops = [
        ("mutation($m: ID!) { configurePrograms(merchantId: $m, input: { autoCompleteDays: 1 }) { version } }", json!({ "m": a.merchant.id })),
        ("mutation { reviewWithdrawal(withdrawalId: \"1\", approve: true) { id } }", json!({})),
        ("mutation($m: ID!) { extendPointsExpiry(merchantId: $m, days: 5) }", json!({ "m": a.merchant.id })),
    ];
    for (query, vars) in manager_ops {
        let response = t.gql(Some(&a.cashier), query, vars).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{query}");
    }
    let response = t.order(&a, &a.shoppers[0].1, "10", json!({})).await;
    assert!(response.get("errors").is_none());
    let shopper_try = t
        .gql(Some(&a.shoppers[0].0), RECORD, json!({ "i": { "storeId": a.merchant.store_id, "userId": a.shoppers[0].1, "amount": "1", "idempotencyKey": "x" } }))
        .await;
    assert_eq!(error_code(&shopper_try), "FORBIDDEN");
    let anonymous = t
        .gql(None, RECORD, json!({ "i": { "storeId": a.merchant.store_id, "userId": a.shoppers[0].1, "amount": "1", "idempotencyKey": "x" } }))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let after = writes(&t).await;
    assert_eq!(
        after[0],
        before[0] + 1,
        "only the one allowed order was written"
    );
}
