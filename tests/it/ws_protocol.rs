//! `graphql-transport-ws` over a real socket: every close code of the protocol, the init
//! timeout, request errors as `error`, and the per-connection subscription limit.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

const WALLET: &str = "subscription($m: ID!) { walletUpdated(merchantId: $m) { cash } }";

fn closed_with(message: &Value, code: u16) {
    assert_eq!(message["type"], "closed", "{message}");
    assert_eq!(message["code"], code, "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_close_code_of_the_protocol() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let token = shop.shoppers[0].0.clone();
    let address = t.serve().await;

    // 4403: a bad token, and no token at all.
    let (mut ws, answer) = WsClient::connect(address, "not-a-token").await;
    closed_with(&answer, 4403);
    assert!(ws.next_frame().await.is_none());
    let mut ws = WsClient::open(address, Some("graphql-transport-ws")).await;
    ws.send(json!({ "type": "connection_init" })).await;
    closed_with(&ws.next().await, 4403);

    // 4401: subscribe before connection_ack.
    let mut ws = WsClient::open(address, Some("graphql-transport-ws")).await;
    ws.subscribe("1", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    closed_with(&ws.next().await, 4401);

    // 4400: unreadable JSON, an unknown type, a subscribe without an id, a binary frame.
    for bad in [
        "{ not json",
        r#"{"type":"bogus"}"#,
        r#"{"type":"subscribe","payload":{"query":"{ __typename }"}}"#,
    ] {
        let (mut ws, ack) = WsClient::connect(address, &token).await;
        assert_eq!(ack["type"], "connection_ack");
        ws.send_text(bad).await;
        closed_with(&ws.next().await, 4400);
    }

    // 4429: a second connection_init.
    let (mut ws, _) = WsClient::connect(address, &token).await;
    ws.send(json!({ "type": "connection_init", "payload": { "token": token } }))
        .await;
    closed_with(&ws.next().await, 4429);

    // 4409: a subscription id still in use.
    let (mut ws, _) = WsClient::connect(address, &token).await;
    ws.subscribe("same", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    assert_eq!(ws.next().await["type"], "next");
    ws.subscribe("same", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    closed_with(&ws.next().await, 4409);

    // 4406: a client that does not speak the protocol.
    let mut ws = WsClient::open(address, None).await;
    closed_with(&ws.next().await, 4406);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_init_timeout() {
    let t = TestApp::with_config(|c| c.ws_init_timeout = Duration::from_secs(1)).await;
    let address = t.serve().await;
    let started = Instant::now();
    let mut ws = WsClient::open(address, Some("graphql-transport-ws")).await;
    closed_with(&ws.next().await, 4408);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_free_again_after_complete_and_pings_are_answered() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let address = t.serve().await;
    let (mut ws, _) = WsClient::connect(address, &shop.shoppers[0].0).await;
    ws.send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    assert_eq!(
        ws.next().await,
        json!({ "type": "pong", "payload": { "n": 1 } })
    );
    // A query over the socket: one `next`, then `complete`; its id may be used again.
    for _ in 0..2 {
        ws.subscribe("q", "{ me { id } }", json!({})).await;
        let next = ws.next().await;
        assert_eq!(next["type"], "next", "{next}");
        assert_eq!(
            next["payload"]["data"]["me"]["id"],
            json!(shop.shoppers[0].1)
        );
        assert_eq!(ws.next().await, json!({ "id": "q", "type": "complete" }));
    }
    // The client completes a live subscription; its id may be used again at once.
    ws.subscribe("w", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    assert_eq!(ws.next().await["type"], "next");
    ws.send(json!({ "id": "w", "type": "complete" })).await;
    ws.subscribe("w", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    assert_eq!(ws.next().await["type"], "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_document_gets_an_error_message_and_the_connection_stays() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let address = t.serve().await;
    let (mut ws, _) = WsClient::connect(address, &shop.shoppers[0].0).await;
    for (id, query) in [
        (
            "a",
            "subscription { walletUpdated(merchantId: \"1\") { nosuchfield } }",
        ),
        ("b", "subscription { walletUpdated( }"),
        ("c", "subscription { walletUpdated { cash } }"),
    ] {
        ws.subscribe(id, query, json!({})).await;
        let message = ws.next().await;
        assert_eq!(message["type"], "error", "{message}");
        assert_eq!(message["id"], id);
        assert_eq!(message["payload"][0]["extensions"]["code"], "INVALID_INPUT");
    }
    // A field error while subscribing is an execution result (`next`), as graphql-js gives.
    ws.subscribe("d", WALLET, json!({ "m": "99999" })).await;
    let message = ws.next().await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
    assert_eq!(ws.next().await, json!({ "id": "d", "type": "complete" }));
    ws.subscribe("e", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    assert_eq!(ws.next().await["type"], "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_holds_at_most_the_configured_subscriptions() {
    let t = TestApp::with_config(|c| c.ws_max_subscriptions = 3).await;
    let shop = t.shop(1).await;
    let address = t.serve().await;
    let (mut ws, _) = WsClient::connect(address, &shop.shoppers[0].0).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, WALLET, json!({ "m": shop.merchant.id }))
            .await;
        assert_eq!(ws.next().await["type"], "next");
    }
    ws.subscribe("4", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    let message = ws.next().await;
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "4");
    assert_eq!(message["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    // Completing one frees a place.
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    ws.subscribe("5", WALLET, json!({ "m": shop.merchant.id }))
        .await;
    assert_eq!(ws.next().await["type"], "next");
}

/// The GraphQL spec ("Serialized Map Ordering"): a response's fields come in the order the
/// query selected them, not sorted, over HTTP and over the WebSocket alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_come_back_in_the_order_they_were_asked_for() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let token = shop.shoppers[0].0.clone();
    let query = "subscription($m: ID!) { walletUpdated(merchantId: $m) { points cash zz: cash aa: points } }";

    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({ "query": "{ __typename zeta: __typename alpha: __typename }" }).to_string(),
        ))
        .unwrap();
    let (status, body) = t.request(request).await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"data":{"__typename":"Query","zeta":"Query","alpha":"Query"}}"#
    );

    let address = t.serve().await;
    let (mut ws, ack) = WsClient::connect(address, &token).await;
    assert_eq!(ack["type"], "connection_ack");
    ws.subscribe("order", query, json!({ "m": shop.merchant.id }))
        .await;
    let frame = ws.next_frame().await.expect("the wallet's first state");
    let text = frame.into_text().unwrap().to_string();
    let at = |key: &str| {
        text.find(&format!(r#""{key}":"#))
            .unwrap_or_else(|| panic!("{key} in {text}"))
    };
    assert!(
        at("id") < at("type") && at("type") < at("payload"),
        "the protocol's own order: {text}"
    );
    assert!(
        at("points") < at("cash") && at("cash") < at("zz") && at("zz") < at("aa"),
        "the selection's order: {text}"
    );
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["payload"]["data"]["walletUpdated"]["points"], 0);
}
