//! RULES.md "Value-added points" end to end.

use serde_json::{json, Value};

use crate::helpers::*;

const SELL: &str = "mutation($m: ID!, $p: Decimal!) { sellValueAddedPoints(merchantId: $m, points: $p) { points gross fee net } }";
const STATE: &str = "query($m: ID!) { merchant(id: $m) { valueAdded { pool supply price } } }";

pub async fn va_shop(t: &TestApp, shoppers: usize, extra: Value) -> Shop {
    let shop = t.shop(shoppers).await;
    let mut rules = json!({ "enabled": true, "poolRatio": "0.30", "mintRatio": "0.70" });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        rules[k] = v;
    }
    // Rebate off so the orders' rewards are the value-added ones alone.
    t.configure(
        &shop.merchant,
        json!({ "valueAdded": rules, "rebate": { "enabled": false, "rebateRate": "0.05" } }),
    )
    .await;
    shop
}

async fn state(t: &TestApp, shop: &Shop) -> Value {
    t.ok(
        Some(&shop.merchant.owner_token),
        STATE,
        json!({ "m": shop.merchant.id }),
    )
    .await["merchant"]["valueAdded"]
        .clone()
}

#[tokio::test]
async fn the_rules_md_example_mint_mint_sell() {
    let t = TestApp::new().await;
    let shop = va_shop(&t, 2, json!({})).await;
    let (a, b) = (&shop.shoppers[0], &shop.shoppers[1]);
    let m = &shop.merchant.id;
    let first = t.order(&shop, &a.1, "100.00", json!({})).await;
    assert_eq!(
        first["data"]["recordOrder"]["rewards"],
        json!([
            { "kind": "VALUE_ADDED_POOL", "amount": "30.00", "unit": "CNY", "beneficiary": null },
            { "kind": "VALUE_ADDED_POINTS", "amount": "70.0000", "unit": "VA_POINTS", "beneficiary": { "id": a.1 } },
        ])
    );
    assert_eq!(
        state(&t, &shop).await,
        json!({ "pool": "30.00", "supply": "70.0000", "price": "0.4285" })
    );
    let second = t.order(&shop, &b.1, "100.00", json!({})).await;
    assert_eq!(
        second["data"]["recordOrder"]["rewards"][1]["amount"],
        "163.3605"
    );
    assert_eq!(
        state(&t, &shop).await,
        json!({ "pool": "60.00", "supply": "233.3605", "price": "0.2571" })
    );

    let sale = t.ok(Some(&a.0), SELL, json!({ "m": m, "p": "70" })).await;
    assert_eq!(
        sale["sellValueAddedPoints"],
        json!({ "points": "70.0000", "gross": "17.99", "fee": "1.79", "net": "16.20" })
    );
    assert_eq!(
        state(&t, &shop).await,
        json!({ "pool": "43.80", "supply": "163.3605", "price": "0.2681" })
    );
    let wallet = t
        .ok(Some(&a.0), "query($m: ID!) { membership(merchantId: $m) { wallet { cash valueAddedPoints valueAddedWorth } } }", json!({ "m": m }))
        .await;
    assert_eq!(
        wallet["membership"]["wallet"],
        json!({ "cash": "16.20", "valueAddedPoints": "0.0000", "valueAddedWorth": "0.00" })
    );
    let wallet = t
        .ok(Some(&b.0), "query($m: ID!) { membership(merchantId: $m) { wallet { valueAddedPoints valueAddedWorth } } }", json!({ "m": m }))
        .await;
    assert_eq!(
        wallet["membership"]["wallet"],
        json!({ "valueAddedPoints": "163.3605", "valueAddedWorth": "43.80" })
    );

    // The owner injects 56.20: the pool is 100.00 and the price floor4(100 / 163.3605).
    let injected = t
        .ok(Some(&shop.merchant.owner_token), "mutation($m: ID!) { injectValueAddedPool(merchantId: $m, amount: \"56.20\") { pool supply price } }", json!({ "m": m }))
        .await;
    assert_eq!(
        injected["injectValueAddedPool"],
        json!({ "pool": "100.00", "supply": "163.3605", "price": "0.6121" })
    );

    let history = t
        .ok(
            Some(&b.0),
            "query($m: ID!) { valueAddedHistory(merchantId: $m, from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") { price pool supply cause } }",
            json!({ "m": m }),
        )
        .await;
    let path: Vec<(&str, &str)> = history["valueAddedHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["cause"].as_str().unwrap(), p["price"].as_str().unwrap()))
        .collect();
    assert_eq!(
        path,
        [
            ("MINT", "0.4285"),
            ("MINT", "0.2571"),
            ("SALE", "0.2681"),
            ("INJECTION", "0.6121")
        ]
    );
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_forced_exit_sells_half_of_a_large_holding() {
    let t = TestApp::new().await;
    let shop = va_shop(
        &t,
        2,
        json!({ "exitThreshold": "100", "exitPortion": "0.50" }),
    )
    .await;
    let (a, b) = (&shop.shoppers[0], &shop.shoppers[1]);
    t.order(&shop, &a.1, "100.00", json!({})).await; // 70 points: under the threshold
    t.order(&shop, &b.1, "100.00", json!({})).await; // 163.3605: sells floor4(× 0.5) = 81.6802
                                                     // gross floor2(81.6802 × 60.00 / 233.3605) = 21.00, fee 2.10, net 18.90.
    assert_eq!(
        state(&t, &shop).await,
        json!({ "pool": "41.10", "supply": "151.6803", "price": "0.2709" })
    );
    let wallet = t
        .ok(Some(&b.0), "query($m: ID!) { membership(merchantId: $m) { wallet { cash valueAddedPoints transactions(first: 2) { edges { node { kind amount } } } } } }", json!({ "m": shop.merchant.id }))
        .await;
    let w = &wallet["membership"]["wallet"];
    assert_eq!(
        (w["cash"].as_str(), w["valueAddedPoints"].as_str()),
        (Some("18.90"), Some("81.6803"))
    );
    assert_eq!(
        w["transactions"]["edges"][0]["node"],
        json!({ "kind": "VA_FORCED_EXIT", "amount": "18.90" })
    );
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn bad_sales_are_refused_and_a_paused_program_still_buys_back() {
    let t = TestApp::new().await;
    let shop = va_shop(&t, 2, json!({})).await;
    let (a, b) = (&shop.shoppers[0], &shop.shoppers[1]);
    let m = &shop.merchant.id;
    t.order(&shop, &a.1, "100.00", json!({})).await;
    let before = t.count("ledger_postings").await;
    for (points, code) in [
        ("70.0001", "INSUFFICIENT_FUNDS"),
        ("0", "INVALID_INPUT"),
        ("-1", "INVALID_INPUT"),
        ("1.00001", "INVALID_INPUT"),
        ("lots", "INVALID_INPUT"),
        ("1e1", "INVALID_INPUT"),
        ("+1", "INVALID_INPUT"),
        (".5", "INVALID_INPUT"),
        ("1.", "INVALID_INPUT"),
    ] {
        let response = t
            .gql(Some(&a.0), SELL, json!({ "m": m, "p": points }))
            .await;
        assert_eq!(error_code(&response), code, "{points}");
    }
    let response = t.gql(Some(&b.0), SELL, json!({ "m": m, "p": "1" })).await;
    assert_eq!(error_code(&response), "INSUFFICIENT_FUNDS");
    let response = t
        .gql(Some(&shop.cashier), SELL, json!({ "m": m, "p": "1" }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = t
        .gql(
            Some(&shop.cashier),
            "mutation($m: ID!) { injectValueAddedPool(merchantId: $m, amount: \"10\") { pool } }",
            json!({ "m": m }),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let response = t
        .gql(Some(&shop.merchant.owner_token), "mutation($m: ID!) { injectValueAddedPool(merchantId: $m, amount: \"0.001\") { pool } }", json!({ "m": m }))
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    for loose in ["1e3", "+10", "10.", "1_000"] {
        let response = t
            .gql(
                Some(&shop.merchant.owner_token),
                "mutation($m: ID!, $a: Decimal!) { injectValueAddedPool(merchantId: $m, amount: $a) { pool } }",
                json!({ "m": m, "a": loose }),
            )
            .await;
        assert_eq!(error_code(&response), "INVALID_INPUT", "{loose}");
    }
    assert_eq!(t.count("ledger_postings").await, before);

    // Paused: no minting, but selling stays open.
    t.configure(
        &shop.merchant,
        json!({ "valueAdded": { "enabled": false, "poolRatio": "0.30", "mintRatio": "0.70" } }),
    )
    .await;
    let order = t.order(&shop, &b.1, "100.00", json!({})).await;
    assert_eq!(order["data"]["recordOrder"]["rewards"], json!([]));
    let sale = t.ok(Some(&a.0), SELL, json!({ "m": m, "p": "70" })).await;
    // The only holder sells everything: gross is the whole pool, the fee stays in it.
    assert_eq!(
        sale["sellValueAddedPoints"],
        json!({ "points": "70.0000", "gross": "30.00", "fee": "3.00", "net": "27.00" })
    );
    assert_eq!(
        state(&t, &shop).await,
        json!({ "pool": "3.00", "supply": "0.0000", "price": "1.0000" })
    );
    t.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_simultaneous_sales_leave_a_solvent_pool() {
    let t = TestApp::new().await;
    let shop = va_shop(&t, 10, json!({})).await;
    for (i, (_, user)) in shop.shoppers.iter().enumerate() {
        t.order(&shop, user, &format!("{}.00", 100 + 37 * i), json!({}))
            .await;
    }
    let m = &shop.merchant.id;
    // 98 small sales by nine holders at once, while the first holder tries one sale of
    // everything twice at the same moment: 100 simultaneous sales.
    let mut requests = Vec::new();
    for (i, (token, _)) in shop.shoppers.iter().skip(1).enumerate() {
        for _ in 0..(10 + usize::from(i < 8)) {
            requests.push((token.clone(), "1.2345".to_string()));
        }
    }
    let first_holding = t
        .ok(
            Some(&shop.shoppers[0].0),
            "query($m: ID!) { membership(merchantId: $m) { wallet { valueAddedPoints } } }",
            json!({ "m": m }),
        )
        .await["membership"]["wallet"]["valueAddedPoints"]
        .as_str()
        .unwrap()
        .to_owned();
    requests.push((shop.shoppers[0].0.clone(), first_holding.clone()));
    requests.push((shop.shoppers[0].0.clone(), first_holding));
    let results = futures::future::join_all(
        requests
            .iter()
            .map(|(token, points)| t.gql(Some(token), SELL, json!({ "m": m, "p": points }))),
    )
    .await;
    let ok = results.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(requests.len(), 100);
    assert_eq!(ok, 99, "98 small sales and one of the two whole sales");
    let refused: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("errors").is_some())
        .collect();
    assert_eq!(error_code(refused[0]), "INSUFFICIENT_FUNDS");
    let s = state(&t, &shop).await;
    let pool: rust_decimal::Decimal = s["pool"].as_str().unwrap().parse().unwrap();
    let supply: rust_decimal::Decimal = s["supply"].as_str().unwrap().parse().unwrap();
    let price: rust_decimal::Decimal = s["price"].as_str().unwrap().parse().unwrap();
    assert!(pool >= rust_decimal::Decimal::ZERO);
    assert!(supply * price <= pool, "{s}");
    t.assert_audit_clean().await;
}

/// Turned on after cash orders were settled in memory (a settlement remembers the programs
/// in force), the program applies from the next order on: that order settles through its
/// own code, exactly as RULES.md's first mint, once; sent again it replays.
#[tokio::test]
async fn turned_on_after_orders_settled_in_memory_it_applies_to_the_next_order() {
    let t = TestApp::new().await;
    let shop = t.shop(2).await;
    let (a, b) = (&shop.shoppers[0], &shop.shoppers[1]);
    let before = t.order(&shop, &a.1, "100.00", json!({})).await;
    assert!(before["errors"].is_null(), "{before}");
    assert_eq!(t.app.state.commits.in_memory(), 1, "settled in memory");
    t.configure(
        &shop.merchant,
        json!({
            "valueAdded": { "enabled": true, "poolRatio": "0.30", "mintRatio": "0.70" },
            "rebate": { "enabled": false, "rebateRate": "0.05" },
        }),
    )
    .await;
    let key = json!({ "idempotencyKey": "after-value-added" });
    let after = t.order(&shop, &b.1, "100.00", key.clone()).await;
    assert_eq!(
        after["data"]["recordOrder"]["rewards"],
        json!([
            { "kind": "VALUE_ADDED_POOL", "amount": "30.00", "unit": "CNY", "beneficiary": null },
            { "kind": "VALUE_ADDED_POINTS", "amount": "70.0000", "unit": "VA_POINTS", "beneficiary": { "id": b.1 } },
        ])
    );
    assert_eq!(t.app.state.commits.in_memory(), 1, "not settled in memory");
    assert_eq!(
        state(&t, &shop).await,
        json!({ "pool": "30.00", "supply": "70.0000", "price": "0.4285" })
    );
    let again = t.order(&shop, &b.1, "100.00", key).await;
    assert_eq!(
        again["data"]["recordOrder"]["id"],
        after["data"]["recordOrder"]["id"]
    );
    assert_eq!(t.count("orders").await, 2);
    t.assert_audit_clean().await;
}
