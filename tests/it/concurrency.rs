//! Simultaneous requests against one balance, one idempotency key and one merchant.

use serde_json::json;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_withdrawals_take_exactly_what_is_there() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    let m = &shop.merchant;
    t.credit_cash(&m.id, user, "105.00").await;
    let request =
        "mutation($m: ID!) { requestWithdrawal(merchantId: $m, amount: \"10.00\") { id } }";
    let results = futures::future::join_all(
        (0..50).map(|_| t.gql(Some(token), request, json!({ "m": m.id }))),
    )
    .await;
    let ok = results.iter().filter(|r| r.get("errors").is_none()).count();
    let refused = results
        .iter()
        .filter(|r| r.get("errors").is_some())
        .collect::<Vec<_>>();
    assert_eq!(ok, 10);
    assert!(
        refused
            .iter()
            .all(|r| error_code(r) == "INSUFFICIENT_FUNDS"),
        "{refused:?}"
    );
    let wallet = t.wallet(token, &m.id).await;
    assert_eq!(
        (wallet["cash"].as_str(), wallet["cashOnHold"].as_str()),
        (Some("5.00"), Some("100.00"))
    );
    assert_eq!(t.count("withdrawals").await, 10);
    t.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_sent_twenty_times_at_once_makes_one_order() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let user = &shop.shoppers[0].1;
    t.order(&shop, user, "1000.00", json!({})).await; // 50 points to pay with
    let input = json!({ "storeId": shop.merchant.store_id, "userId": user, "amount": "100.00", "pointsToUse": 30, "idempotencyKey": "same", "complete": true });
    let results = futures::future::join_all(
        (0..20).map(|_| t.gql(Some(&shop.cashier), RECORD, json!({ "i": input }))),
    )
    .await;
    let ids: std::collections::BTreeSet<String> = results
        .iter()
        .map(|r| {
            assert!(r.get("errors").is_none(), "{r}");
            r["data"]["recordOrder"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(t.count("orders").await, 2);
    // Points were spent once, and earned once: 50 − 30 + floor(70 × 0.05) = 23.
    assert_eq!(
        t.wallet(&shop.shoppers[0].0, &shop.merchant.id).await["points"],
        23
    );
    t.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_orders_completed_in_parallel_leave_a_clean_ledger() {
    let t = TestApp::new().await;
    let shop = t.shop(5).await;
    let mut ids = Vec::new();
    for i in 0..200 {
        let user = &shop.shoppers[i % 5].1;
        let paid = t
            .order(
                &shop,
                user,
                &format!("{}.{:02}", 20 + i, i % 100),
                json!({ "complete": false }),
            )
            .await;
        ids.push(
            paid["data"]["recordOrder"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let complete = "mutation($o: ID!) { completeOrder(orderId: $o) { status } }";
    // Every order twice at once: each completes exactly once.
    let requests = ids
        .iter()
        .chain(ids.iter())
        .map(|id| t.gql(Some(&shop.cashier), complete, json!({ "o": id })));
    let results = futures::future::join_all(requests).await;
    let completed = results.iter().filter(|r| r.get("errors").is_none()).count();
    let conflicts = results
        .iter()
        .filter(|r| r.get("errors").is_some() && error_code(r) == "CONFLICT")
        .count();
    assert_eq!((completed, conflicts), (200, 200));
    assert_eq!(t.count("point_lots").await, 200);
    // Σ floor((20 + i + (i mod 100)/100) × 0.05) over i < 200.
    let expected: i64 = (0..200i64)
        .map(|i| ((20 + i) * 100 + i % 100) * 5 / 10000)
        .sum();
    let mut total = 0;
    for (token, _) in &shop.shoppers {
        total += t.wallet(token, &shop.merchant.id).await["points"]
            .as_i64()
            .unwrap();
    }
    assert_eq!(total, expected);
    t.assert_audit_clean().await;
}
