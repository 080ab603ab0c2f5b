//! What the console's pages ask of the API: finding members by code or nickname, orders
//! filtered by store, shopper and date, one order by id, a page of the queue further down,
//! the live feed naming the shopper, and the dashboard kept from cashiers.

use chrono::Duration;
use fenhong::clock::Clock;
use serde_json::{json, Value};

use crate::helpers::{error_code, unique, TestApp};

async fn nickname(app: &TestApp, token: &str, name: &str) {
    app.ok(
        Some(token),
        "mutation($n: String!) { setNickname(nickname: $n) { id } }",
        json!({ "n": name }),
    )
    .await;
}

fn codes(data: &Value) -> Vec<String> {
    data.as_object().unwrap().values().next().unwrap()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["memberCode"].as_str().unwrap().to_owned())
        .collect()
}

const SEARCH: &str = "query($m: ID!, $q: String!) { searchMembers(merchantId: $m, query: $q, first: 50) { nodes { memberCode user { nickname } } } }";
const ALL: &str = "query($m: ID!) { members(merchantId: $m, first: 50) { nodes { memberCode user { nickname } } } }";

#[tokio::test]
async fn members_are_found_by_the_start_of_their_code_or_any_part_of_their_nickname() {
    let app = TestApp::new().await;
    let shop = app.shop(3).await;
    let m = &shop.merchant.id;
    let names = ["Xiao Li", "阿美_50%", "Dawei"];
    let mut member_codes = Vec::new();
    for ((token, _), name) in shop.shoppers.iter().zip(names) {
        nickname(&app, token, name).await;
        let data = app
            .ok(
                Some(token),
                "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
                json!({ "m": m }),
            )
            .await;
        member_codes.push(
            data["membership"]["memberCode"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Another merchant's member with the same nickname is never found here.
    let other = app.shop(1).await;
    nickname(&app, &other.shoppers[0].0, "Xiao Li").await;

    let search = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        let cashier = shop.cashier.clone();
        async move {
            codes(
                &app.ok(Some(&cashier), SEARCH, json!({ "m": m, "q": q }))
                    .await,
            )
        }
    };
    assert_eq!(
        search("xiao").await,
        vec![member_codes[0].clone()],
        "any case"
    );
    assert_eq!(
        search("  li ").await,
        vec![member_codes[0].clone()],
        "trimmed"
    );
    assert_eq!(search("阿美").await, vec![member_codes[1].clone()]);
    assert_eq!(
        search(&member_codes[2]).await,
        vec![member_codes[2].clone()]
    );
    assert!(search(&member_codes[2][..4])
        .await
        .contains(&member_codes[2]));
    // LIKE's wildcards match only themselves.
    assert_eq!(search("_50%").await, vec![member_codes[1].clone()]);
    assert_eq!(search("%").await, vec![member_codes[1].clone()]);
    assert!(search("X%L").await.is_empty());
    assert!(search("_iao").await.is_empty());
    assert!(search("nobody").await.is_empty());
    // No search: everyone, newest first.
    let all = codes(&app.ok(Some(&shop.cashier), ALL, json!({ "m": m })).await);
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], member_codes[2]);
}

#[tokio::test]
async fn orders_are_filtered_by_store_shopper_and_date_and_one_is_read_by_id() {
    let app = TestApp::new().await;
    let shop = app.shop(2).await;
    let m = &shop.merchant.id;
    let second_store = app
        .ok(
            Some(&shop.merchant.owner_token),
            "mutation($m: ID!) { createStore(merchantId: $m, name: \"Riverside\") { id } }",
            json!({ "m": m }),
        )
        .await["createStore"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (a, b) = (&shop.shoppers[0].1, &shop.shoppers[1].1);
    let first = app.order(&shop, a, "10.00", json!({})).await["data"]["recordOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.order(&shop, b, "20.00", json!({ "storeId": second_store }))
        .await;
    app.order(&shop, b, "30.00", json!({ "complete": false }))
        .await;

    let page = |filters: Value| {
        let app = &app;
        let cashier = shop.cashier.clone();
        async move {
            let mut vars = json!({ "m": m });
            for (k, v) in filters.as_object().unwrap() {
                vars[k] = v.clone();
            }
            let data = app
                .gql(
                    Some(&cashier),
                    "query($m: ID!, $s: ID, $u: ID, $st: OrderStatus, $from: DateTime, $to: DateTime) {
                       orders(merchantId: $m, storeId: $s, userId: $u, status: $st, from: $from, to: $to) { nodes { amount } } }",
                    vars,
                )
                .await;
            if data.get("errors").is_some() {
                return Err(data);
            }
            Ok(data["data"]["orders"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["amount"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>())
        }
    };
    assert_eq!(page(json!({})).await.unwrap(), ["30.00", "20.00", "10.00"]);
    assert_eq!(page(json!({ "s": second_store })).await.unwrap(), ["20.00"]);
    assert_eq!(page(json!({ "u": b })).await.unwrap(), ["30.00", "20.00"]);
    assert_eq!(
        page(json!({ "u": b, "st": "PAID" })).await.unwrap(),
        ["30.00"]
    );
    let now = app.clock.now();
    let hour_ago = (now - Duration::hours(1)).to_rfc3339();
    let in_an_hour = (now + Duration::hours(1)).to_rfc3339();
    assert_eq!(
        page(json!({ "from": hour_ago, "to": in_an_hour }))
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(page(json!({ "from": in_an_hour }))
        .await
        .unwrap()
        .is_empty());
    assert!(page(json!({ "to": hour_ago })).await.unwrap().is_empty());
    let err = page(json!({ "s": "x" })).await.unwrap_err();
    assert_eq!(error_code(&err), "INVALID_INPUT");

    // One order by id, for its own merchant's staff only.
    const ORDER: &str = "query($id: ID!) { order(id: $id) { id amount user { id } } }";
    let data = app
        .ok(Some(&shop.cashier), ORDER, json!({ "id": first }))
        .await;
    assert_eq!(data["order"]["amount"], "10.00");
    assert_eq!(data["order"]["user"]["id"], a.as_str());
    let other = app.shop(0).await;
    let data = app
        .ok(Some(&other.cashier), ORDER, json!({ "id": first }))
        .await;
    assert!(
        data["order"].is_null(),
        "another merchant's order is not found"
    );
    let response = app
        .gql(Some(&shop.shoppers[0].0), ORDER, json!({ "id": first }))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
}

#[tokio::test]
async fn the_queue_is_read_a_page_at_a_time() {
    let app = TestApp::new().await;
    let shop = app.shop(6).await;
    app.configure(
        &shop.merchant,
        json!({ "queue": { "enabled": true, "activeSlots": 2, "queueRatio": "0.10", "referralRatio": "0" } }),
    )
    .await;
    for (_, user) in &shop.shoppers {
        app.order(&shop, user, "100.00", json!({})).await;
    }
    const QUEUE: &str = "query($m: ID!, $f: Int!, $o: Int!) { merchant(id: $m) { queue(first: $f, offset: $o) { position status } } }";
    let page = |first: i32, offset: i32| {
        let app = &app;
        let owner = shop.merchant.owner_token.clone();
        let m = shop.merchant.id.clone();
        async move {
            app.gql(
                Some(&owner),
                QUEUE,
                json!({ "m": m, "f": first, "o": offset }),
            )
            .await
        }
    };
    let positions = |v: &Value| -> Vec<i64> {
        v["data"]["merchant"]["queue"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["position"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(positions(&page(4, 0).await), [1, 2, 3, 4]);
    assert_eq!(positions(&page(4, 4).await), [5, 6]);
    assert!(positions(&page(4, 8).await).is_empty());
    assert_eq!(
        page(4, 2).await["data"]["merchant"]["queue"][0]["status"],
        "WAITING"
    );
    assert_eq!(error_code(&page(4, -1).await), "INVALID_INPUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_is_for_owners_and_managers_and_the_feed_names_the_shopper() {
    let app = TestApp::new().await;
    let shop = app.shop(1).await;
    let m = &shop.merchant.id;
    const DASHBOARD: &str = "query($m: ID!, $from: DateTime!, $to: DateTime!) { dashboard(merchantId: $m, from: $from, to: $to) { gmv liabilities } }";
    let vars = json!({ "m": m, "from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z" });
    let refused = app.gql(Some(&shop.cashier), DASHBOARD, vars.clone()).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let manager = app.staff(&shop.merchant, "MANAGER").await;
    app.ok(Some(&manager), DASHBOARD, vars).await;

    // The feed's event carries the shopper herself: nickname and member code.
    let (token, user) = &shop.shoppers[0];
    let name = unique("Mei");
    nickname(&app, token, &name).await;
    let address = app.serve().await;
    let (mut ws, _) = crate::helpers::WsClient::connect(address, &shop.cashier).await;
    ws.subscribe(
        "feed",
        "subscription($m: ID!) { merchantFeed(merchantId: $m) { kind user { nickname memberships { memberCode } } referrer { id } } }",
        json!({ "m": m }),
    )
    .await;
    // Give the feed's subscription a moment to be registered before events flow.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    app.order(&shop, user, "12.00", json!({})).await;
    let event = ws.next().await;
    let e = &event["payload"]["data"]["merchantFeed"];
    assert_eq!(e["kind"], "ORDER_COMPLETED", "{event}");
    assert_eq!(e["user"]["nickname"], name.as_str());
    assert_eq!(
        e["user"]["memberships"].as_array().unwrap().len(),
        1,
        "staff see only the membership at their own merchant"
    );
    assert!(e["referrer"].is_null());
}
