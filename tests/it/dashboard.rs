//! Dashboard figures against hand-computed values, and the CSV exports.

use chrono::Duration;
use serde_json::{json, Value};

use crate::{helpers::*, queue::queue_rules};

const DASHBOARD: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!, $s: ID) { dashboard(merchantId: $m, from: $from, to: $to, storeId: $s) { gmv orders newMembers referredMembers queueRewards referralRewards pointsIssued pointsRedeemed pointsExpired payoutRatio liabilities daily { day gmv orders newMembers rewards } topReferrers { user { id } referred rewards } } }";

/// The RULES.md sequence on day 1 (2026-03-01) with the rebate program on, and on day 2 an
/// order of 100.00 by A paying 20 points.
async fn seeded(t: &TestApp) -> (Merchant, String, String, String) {
    let m = t.merchant_with_store("Dashboard").await;
    // Days in UTC, so the hand-computed daily series follows the timestamps as written.
    t.ok(
        Some(&m.owner_token),
        "mutation($m: ID!) { updateMerchant(merchantId: $m, input: { timeZone: \"Etc/UTC\" }) { timeZone } }",
        json!({ "m": m.id }),
    )
    .await;
    t.configure(
        &m,
        json!({ "queue": queue_rules(), "rebate": { "enabled": true, "rebateRate": "0.05" } }),
    )
    .await;
    let cashier = t.staff(&m, "CASHIER").await;
    let (p, p_id) = t.shopper("p").await;
    let p_scene = t.join(&p, &m.store_scene).await["referralCode"]["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut a = (String::new(), String::new());
    for (name, amount) in [
        ("A", "1000"),
        ("B", "1000"),
        ("C", "1000"),
        ("D", "600"),
        ("E", "1000"),
        ("F", "200"),
        ("G", "300"),
    ] {
        let shopper = t.shopper(name).await;
        t.join(
            &shopper.0,
            if name == "F" {
                &p_scene
            } else {
                &m.store_scene
            },
        )
        .await;
        t.ok(
            Some(&cashier),
            RECORD,
            json!({ "i": { "storeId": m.store_id, "userId": shopper.1, "amount": amount, "idempotencyKey": name, "complete": true } }),
        )
        .await;
        if name == "A" {
            a = shopper;
        }
    }
    t.clock.advance(Duration::days(1));
    t.ok(
        Some(&cashier),
        RECORD,
        json!({ "i": { "storeId": m.store_id, "userId": a.1, "amount": "100", "pointsToUse": 20, "idempotencyKey": "A2", "complete": true } }),
    )
    .await;
    (m, a.0, p_id, cashier)
}

#[tokio::test]
async fn dashboard_figures_equal_the_hand_computed_ones() {
    let t = TestApp::new().await;
    let (m, a_token, p_id, _) = seeded(&t).await;
    // A withdrawal request moves cash to the hold: liabilities do not change.
    t.ok(
        Some(&a_token),
        "mutation($m: ID!) { requestWithdrawal(merchantId: $m, amount: \"100\") { id } }",
        json!({ "m": m.id }),
    )
    .await;
    let data = t
        .ok(
            Some(&m.owner_token),
            DASHBOARD,
            json!({ "m": m.id, "from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z" }),
        )
        .await;
    let d = &data["dashboard"];
    assert_eq!(d["gmv"], "5200.00");
    assert_eq!(d["orders"], 8);
    assert_eq!(
        (d["newMembers"].as_i64(), d["referredMembers"].as_i64()),
        (Some(8), Some(1))
    );
    // 3019.98 of queue shares on day 1 (3059.98 paid less P's 40.00), 48.00 on day 2.
    assert_eq!(d["queueRewards"], "3067.98");
    assert_eq!(d["referralRewards"], "40.00");
    // 50 × 4 + 30 + 10 + 15 on day 1; floor(80.00 × 0.05) = 4 on day 2.
    assert_eq!(
        (
            d["pointsIssued"].as_i64(),
            d["pointsRedeemed"].as_i64(),
            d["pointsExpired"].as_i64()
        ),
        (Some(259), Some(20), Some(0))
    );
    // 3107.98 ÷ 5200.00
    assert_eq!(d["payoutRatio"], "0.5976");
    assert_eq!(d["liabilities"], "3107.98");
    assert_eq!(
        d["daily"],
        json!([
            { "day": "2026-03-01", "gmv": "5100.00", "orders": 7, "newMembers": 8, "rewards": "3059.98" },
            { "day": "2026-03-02", "gmv": "100.00", "orders": 1, "newMembers": 0, "rewards": "48.00" },
            { "day": "2026-03-03", "gmv": "0.00", "orders": 0, "newMembers": 0, "rewards": "0.00" },
        ])
    );
    assert_eq!(
        d["topReferrers"],
        json!([{ "user": { "id": p_id }, "referred": 1, "rewards": "40.00" }])
    );

    // Day 2 alone, and another store (no sales there).
    let day2 = t
        .ok(
            Some(&m.owner_token),
            DASHBOARD,
            json!({ "m": m.id, "from": "2026-03-02T00:00:00Z", "to": "2026-03-03T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        (
            day2["dashboard"]["gmv"].as_str(),
            day2["dashboard"]["queueRewards"].as_str()
        ),
        (Some("100.00"), Some("48.00"))
    );
    let other_store = t
        .ok(
            Some(&m.owner_token),
            "mutation($m: ID!) { createStore(merchantId: $m, name: \"Quiet\") { id } }",
            json!({ "m": m.id }),
        )
        .await["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let quiet = t
        .ok(Some(&m.owner_token), DASHBOARD, json!({ "m": m.id, "from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z", "s": other_store }))
        .await;
    assert_eq!(
        (
            quiet["dashboard"]["gmv"].as_str(),
            quiet["dashboard"]["orders"].as_i64()
        ),
        (Some("0.00"), Some(0))
    );
    let main = t
        .ok(Some(&m.owner_token), DASHBOARD, json!({ "m": m.id, "from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z", "s": m.store_id }))
        .await;
    assert_eq!(main["dashboard"]["gmv"], "5200.00");
}

#[tokio::test]
async fn a_merchants_days_start_at_its_own_midnight() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let zone = t
        .ok(
            Some(&shop.merchant.owner_token),
            "query($m: ID!) { merchant(id: $m) { timeZone } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    assert_eq!(zone["merchant"]["timeZone"], "Asia/Shanghai");
    let user = shop.shoppers[0].1.clone();
    // 2026-03-01 15:30 UTC is 23:30 in Shanghai; 16:30 UTC is 00:30 the next day there.
    t.clock.advance(chrono::Duration::minutes(6 * 60 + 30));
    t.order(&shop, &user, "10.00", json!({})).await;
    t.clock.advance(chrono::Duration::hours(1));
    t.order(&shop, &user, "20.00", json!({})).await;
    const DAYS: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!) { dashboard(merchantId: $m, from: $from, to: $to) { daily { day orders gmv } } }";
    let range = json!({ "m": shop.merchant.id, "from": "2026-02-28T16:00:00Z", "to": "2026-03-02T16:00:00Z" });
    let shanghai = t
        .ok(Some(&shop.merchant.owner_token), DAYS, range.clone())
        .await;
    assert_eq!(
        shanghai["dashboard"]["daily"],
        json!([
            { "day": "2026-03-01", "orders": 1, "gmv": "10.00" },
            { "day": "2026-03-02", "orders": 1, "gmv": "20.00" },
        ])
    );
    // The CSV shows the merchant's time too.
    let (_, csv) = t
        .request(export(
            "orders",
            &shop.merchant.id,
            Some(&shop.merchant.owner_token),
        ))
        .await;
    assert!(String::from_utf8_lossy(&csv).contains("2026-03-02T00:30:00+08:00"));

    // Moved to UTC: both orders fall on 1 March.
    t.ok(
        Some(&shop.merchant.owner_token),
        "mutation($m: ID!) { updateMerchant(merchantId: $m, input: { timeZone: \"Etc/UTC\" }) { timeZone } }",
        json!({ "m": shop.merchant.id }),
    )
    .await;
    let utc = t
        .ok(
            Some(&shop.merchant.owner_token),
            DAYS,
            json!({ "m": shop.merchant.id, "from": "2026-03-01T00:00:00Z", "to": "2026-03-02T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        utc["dashboard"]["daily"],
        json!([{ "day": "2026-03-01", "orders": 2, "gmv": "30.00" }])
    );
    let bad = t
        .gql(
            Some(&shop.merchant.owner_token),
            "mutation($m: ID!) { updateMerchant(merchantId: $m, input: { timeZone: \"Mars/Olympus\" }) { timeZone } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    assert_eq!(error_code(&bad), "INVALID_INPUT");
    let cashier = t
        .gql(
            Some(&shop.cashier),
            "mutation($m: ID!) { updateMerchant(merchantId: $m, input: { name: \"x\" }) { name } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    assert_eq!(error_code(&cashier), "FORBIDDEN");
}

#[tokio::test]
async fn an_empty_range_gives_zeros_and_other_merchants_get_nothing() {
    let t = TestApp::new().await;
    let (m, _, _, _) = seeded(&t).await;
    let data = t
        .ok(
            Some(&m.owner_token),
            DASHBOARD,
            json!({ "m": m.id, "from": "2025-01-01T00:00:00Z", "to": "2025-01-03T00:00:00Z" }),
        )
        .await;
    let d = &data["dashboard"];
    assert_eq!(
        (
            d["gmv"].as_str(),
            d["orders"].as_i64(),
            d["payoutRatio"].as_str()
        ),
        (Some("0.00"), Some(0), Some("0.0000"))
    );
    assert_eq!(d["daily"].as_array().unwrap().len(), 2);
    assert_eq!(d["topReferrers"], json!([]));
    let bad = t
        .gql(
            Some(&m.owner_token),
            DASHBOARD,
            json!({ "m": m.id, "from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(error_code(&bad), "INVALID_INPUT");

    let other = t.merchant_with_store("Other").await;
    let refused = t
        .gql(
            Some(&other.owner_token),
            DASHBOARD,
            json!({ "m": m.id, "from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z" }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let foreign_store = t
        .gql(Some(&other.owner_token), DASHBOARD, json!({ "m": other.id, "from": "2026-03-01T00:00:00Z", "to": "2026-03-04T00:00:00Z", "s": m.store_id }))
        .await;
    assert_eq!(error_code(&foreign_store), "NOT_FOUND");
    for path in ["orders", "ledger"] {
        let (status, _) = t
            .request(export(path, &m.id, Some(&other.owner_token)))
            .await;
        assert_eq!(status, 403, "{path}");
        let (status, _) = t.request(export(path, &m.id, None)).await;
        assert_eq!(status, 401, "{path}");
    }
}

fn export(
    path: &str,
    merchant: &str,
    token: Option<&str>,
) -> axum::http::Request<axum::body::Body> {
    let mut request = axum::http::Request::get(format!(
        "/export/{path}.csv?merchantId={merchant}&from=2026-03-01T00:00:00Z&to=2026-03-03T00:00:00Z"
    ));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(axum::body::Body::empty()).unwrap()
}

#[tokio::test]
async fn orders_and_ledger_export_as_csv() {
    let t = TestApp::new().await;
    let (m, _, _, cashier) = seeded(&t).await;
    let (status, body) = t
        .request(export("orders", &m.id, Some(&m.owner_token)))
        .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,created_at,completed_at,status,store_id,user_id,amount,cash_paid,points_used,idempotency_key");
    assert_eq!(lines.len(), 9);
    assert!(
        lines[8].contains(",COMPLETED,") && lines[8].ends_with(",100.00,80.00,20,A2"),
        "{}",
        lines[8]
    );
    let (status, body) = t
        .request(export("ledger", &m.id, Some(&m.owner_token)))
        .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(body).unwrap();
    let rows: Vec<Value> = csv.lines().skip(1).map(|l| json!(l)).collect();
    assert_eq!(rows.len() as i64, t.count("ledger_postings").await);
    assert!(csv.contains(",USER,") && csv.contains(",REFERRAL,") && csv.contains(",40.00,"));
    // A cashier may not export.
    let (status, _) = t.request(export("orders", &m.id, Some(&cashier))).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn csv_cells_that_would_run_as_formulas_are_neutralised() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let user = &shop.shoppers[0].1;
    let keys = [
        "=HYPERLINK(\"http://evil.example/x\",\"x\")",
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "plain-key",
    ];
    for key in keys {
        let response = t
            .order(&shop, user, "10.00", json!({ "idempotencyKey": key }))
            .await;
        assert!(response.get("errors").is_none(), "{response}");
    }
    let (status, body) = t
        .request(export(
            "orders",
            &shop.merchant.id,
            Some(&shop.merchant.owner_token),
        ))
        .await;
    assert_eq!(status, 200);
    let csv = String::from_utf8(body).unwrap();
    let cells: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|line| line.splitn(10, ',').nth(9).unwrap())
        .collect();
    assert_eq!(
        cells,
        [
            "\"'=HYPERLINK(\"\"http://evil.example/x\"\",\"\"x\"\")\"",
            "'+1+1",
            "'-2+3",
            "'@SUM(A1)",
            "plain-key",
        ]
    );
}
