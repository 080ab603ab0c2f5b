//! RULES.md "Consumption rebate", end to end through GraphQL.

use chrono::Duration;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn five_points_per_hundred_yuan_and_99_yuan_earns_4() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    let first = t.order(&shop, user, "100.00", json!({})).await;
    let order = &first["data"]["recordOrder"];
    assert_eq!(order["status"], "COMPLETED");
    assert_eq!(order["cashPaid"], "100.00");
    assert_eq!(order["programVersion"], 1);
    assert_eq!(
        order["rewards"],
        json!([{ "kind": "REBATE_POINTS", "amount": "5", "unit": "POINTS", "beneficiary": { "id": user } }])
    );
    let second = t.order(&shop, user, "99", json!({})).await;
    assert_eq!(second["data"]["recordOrder"]["rewards"][0]["amount"], "4");
    let third = t.order(&shop, user, "19.99", json!({})).await;
    assert_eq!(third["data"]["recordOrder"]["rewards"], json!([]));

    let wallet = t.wallet(token, &shop.merchant.id).await;
    assert_eq!(wallet["points"], 9);
    assert_eq!(wallet["cash"], "0.00");
    let kinds: Vec<&str> = wallet["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["REBATE_POINTS", "REBATE_POINTS"]);
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn paying_with_points_is_capped_and_earns_on_the_cash_part() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    t.order(&shop, user, "2000.00", json!({})).await; // 100 points
                                                      // Half of a 100-yuan order at most: 51 points is refused and changes nothing.
    let refused = t
        .order(&shop, user, "100.00", json!({ "pointsToUse": 51 }))
        .await;
    assert_eq!(error_code(&refused), "INVALID_INPUT");
    assert_eq!(t.count("orders").await, 1);
    // More points than held is refused too.
    let refused = t
        .order(&shop, user, "1000000.00", json!({ "pointsToUse": 101 }))
        .await;
    assert_eq!(error_code(&refused), "INSUFFICIENT_FUNDS");
    assert_eq!(t.count("orders").await, 1);

    let paid = t
        .order(&shop, user, "100.00", json!({ "pointsToUse": 50 }))
        .await;
    let order = &paid["data"]["recordOrder"];
    assert_eq!(order["cashPaid"], "50.00");
    assert_eq!(order["pointsUsed"], 50);
    assert_eq!(order["rewards"][0]["amount"], "2"); // floor(50.00 × 0.05)
    assert_eq!(t.wallet(token, &shop.merchant.id).await["points"], 52);
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn earliest_expiring_points_go_first_then_expire_and_can_be_extended() {
    // Tokens outlive the 42 days this test moves the clock.
    let t =
        TestApp::with_config(|c| c.token_ttl = std::time::Duration::from_secs(90 * 86400)).await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    let m = &shop.merchant;
    t.order(&shop, user, "1000.00", json!({})).await; // lot A: 50 points, a year
    t.configure(
        m,
        json!({ "rebate": { "enabled": true, "rebateRate": "0.05", "pointsExpiryDays": 30 } }),
    )
    .await;
    t.clock.advance(Duration::days(1));
    t.order(&shop, user, "200.00", json!({})).await; // lot B: 10 points, expires day 31
    t.clock.advance(Duration::days(1));
    // 8 points come out of lot B, which expires first.
    let paid = t
        .order(
            &shop,
            user,
            "100.00",
            json!({ "pointsToUse": 8, "complete": false }),
        )
        .await;
    assert!(paid.get("errors").is_none(), "{paid}");
    assert_eq!(t.wallet(token, &m.id).await["points"], 52);

    // Day 31 has not passed yet at day 30; the paid order auto-completed after 7 days and
    // earned floor(92.00 × 0.05) = 4 points (lot C, expiring day 60).
    t.clock.advance(Duration::days(28));
    let report = t.sweep().await;
    assert_eq!((report.orders_completed, report.points_expired), (1, 0));
    assert_eq!(t.wallet(token, &m.id).await["points"], 56);
    // The owner extends every live lot by 10 days: B now expires on day 41.
    let data = t
        .ok(
            Some(&m.owner_token),
            "mutation($m: ID!) { extendPointsExpiry(merchantId: $m, days: 10) }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(data["extendPointsExpiry"], 3);
    t.clock.advance(Duration::days(2)); // day 32
    assert_eq!(t.sweep().await.points_expired, 0);
    t.clock.advance(Duration::days(10)); // day 42: B's last 2 points expire; A and C stay.
    let report = t.sweep().await;
    assert_eq!(report.points_expired, 2);
    let wallet = t.wallet(token, &m.id).await;
    assert_eq!(wallet["points"], 54);
    let newest = &wallet["transactions"]["edges"][0]["node"];
    assert_eq!(newest["kind"], "POINTS_EXPIRED");
    assert_eq!(newest["amount"], "-2");
    assert_eq!(newest["unit"], "POINTS");
    // Nothing is expired twice.
    assert_eq!(t.sweep().await.points_expired, 0);
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_refund_gives_the_points_back_to_their_lots() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    t.order(&shop, user, "400.00", json!({})).await; // 20 points
    let paid = t
        .order(
            &shop,
            user,
            "60.00",
            json!({ "pointsToUse": 15, "complete": false }),
        )
        .await;
    let order_id = paid["data"]["recordOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(paid["data"]["recordOrder"]["status"], "PAID");
    assert_eq!(t.wallet(token, &shop.merchant.id).await["points"], 5);
    let refunded = t
        .ok(
            Some(&shop.cashier),
            "mutation($o: ID!) { refundOrder(orderId: $o, reason: \"changed mind\") { status refundReason rewards { kind } } }",
            json!({ "o": order_id }),
        )
        .await;
    assert_eq!(refunded["refundOrder"]["status"], "REFUNDED");
    assert_eq!(refunded["refundOrder"]["rewards"], json!([]));
    let wallet = t.wallet(token, &shop.merchant.id).await;
    assert_eq!(wallet["points"], 20);
    assert_eq!(
        wallet["transactions"]["edges"][0]["node"]["kind"],
        "POINTS_RESTORED"
    );
    // A refunded order cannot be completed or refunded again.
    for op in [
        "completeOrder(orderId: $o) { id }",
        "refundOrder(orderId: $o) { id }",
    ] {
        let again = t
            .gql(
                Some(&shop.cashier),
                &format!("mutation($o: ID!) {{ {op} }}"),
                json!({ "o": order_id }),
            )
            .await;
        assert_eq!(error_code(&again), "CONFLICT");
    }
    // The restored points can be spent again.
    let again = t
        .order(&shop, user, "40.00", json!({ "pointsToUse": 20 }))
        .await;
    assert!(again.get("errors").is_none(), "{again}");
    t.assert_audit_clean().await;
}
