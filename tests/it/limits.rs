//! Oversized, too-deep and too-complex requests are refused before they do work.

use serde_json::{json, Value};

use crate::helpers::*;

const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}
"#;

#[tokio::test]
async fn a_query_over_the_depth_limit_is_refused() {
    let t = TestApp::new().await;
    let (token, _) = t.shopper("alice").await;
    // queueEntry → order → queueEntry → … 18 levels deep (no lists, so it costs little).
    let mut query = String::from("id");
    for _ in 0..9 {
        query = format!("order {{ queueEntry {{ {query} }} }}");
    }
    let response = t
        .gql(
            Some(&token),
            &format!("{{ queueEntry(id: \"1\") {{ {query} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested too deep"));
    assert_eq!(response["data"], json!(null));
}

#[tokio::test]
async fn a_query_over_the_cost_limit_is_refused() {
    let t = TestApp::with_config(|c| c.max_query_cost = 20).await;
    let (token, _) = t.shopper("alice").await;
    let fields = (0..25)
        .map(|i| format!("a{i}: id"))
        .collect::<Vec<_>>()
        .join(" ");
    let response = t
        .gql(Some(&token), &format!("{{ me {{ {fields} }} }}"), json!({}))
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("too costly"));
}

/// `fragment F{n} on User { ...F{n-1} ...F{n-1} }`, `levels` deep: about a kilobyte that
/// would expand to 2^levels fields.
fn fragment_bomb(levels: usize) -> String {
    let mut query = format!("{{ me {{ ...F{levels} }} }}\nfragment F0 on User {{ id nickname }}\n");
    for level in 1..=levels {
        query.push_str(&format!(
            "fragment F{level} on User {{ ...F{prev} ...F{prev} }}\n",
            prev = level - 1
        ));
    }
    query
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_at_once_without_logging_in() {
    let t = TestApp::new().await;
    for levels in [25, 40, 60] {
        let query = fragment_bomb(levels);
        assert!(query.len() < 4096, "{} bytes", query.len());
        let started = std::time::Instant::now();
        let response = t.gql(None, &query, json!({})).await;
        let took = started.elapsed();
        assert_eq!(error_code(&response), "INVALID_INPUT", "{response}");
        assert!(response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too costly"));
        // Refused in linear time: a debug build on a busy CI core, with room to spare.
        assert!(
            took < std::time::Duration::from_millis(500),
            "{levels} levels: {took:?}"
        );
    }
    // Eight levels (256 fields) are within the limit and answered.
    let data = t.gql(None, &fragment_bomb(8), json!({})).await;
    assert_eq!(error_code(&data), "UNAUTHENTICATED", "{data}");
}

#[tokio::test]
async fn nested_lists_multiply_by_their_page_sizes() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let nested = "query($m: ID!, $n: Int) { orders(merchantId: $m, first: $n) { edges { node { id rewards { beneficiary { memberships { queueEntries { order { id } } } } } } } } }";
    // 100 orders × 100 rewards × 100 memberships × 100 entries: refused before it runs.
    let started = std::time::Instant::now();
    let response = t
        .gql(
            Some(&shop.cashier),
            nested,
            json!({ "m": shop.merchant.id }),
        )
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT", "{response}");
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    // The shopper's version of the same shape, through `me`.
    let me = "{ me { memberships { queueEntries { order { user { memberships { queueEntries { order { id } } } } } } } } }";
    let response = t.gql(Some(&shop.shoppers[0].0), me, json!({})).await;
    assert_eq!(error_code(&response), "INVALID_INPUT", "{response}");
    // A small page of the same is fine: 1 order × 100 × 100 × 100 is still too much, but
    // a page of 5 orders with their rewards' beneficiaries is not.
    let small = "query($m: ID!) { orders(merchantId: $m, first: 5) { edges { node { id rewards { beneficiary { id } } } } } }";
    let data = t
        .ok(Some(&shop.cashier), small, json!({ "m": shop.merchant.id }))
        .await;
    assert!(data["orders"]["edges"].is_array());
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let t = TestApp::new().await;
    let padding = "#".repeat(70 * 1024);
    let body = json!({ "query": format!("{{ me {{ id }} }}\n{padding}") }).to_string();
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(axum::body::Body::from(body))
        .unwrap();
    let (status, _) = t.request(request).await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn introspection_works_in_development_within_the_limits() {
    let t = TestApp::new().await;
    let data = t.ok(None, INTROSPECTION, json!({})).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn malformed_requests_get_invalid_input() {
    let t = TestApp::new().await;
    let (token, _) = t.shopper("alice").await;
    for (query, vars) in [
        ("{ me { id ", json!({})),
        ("{ nosuchfield }", json!({})),
        (
            "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
            json!({}),
        ),
        (
            "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
            json!({ "m": "not-a-number" }),
        ),
        (
            "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
            json!({ "m": "-4" }),
        ),
    ] {
        let response = t.gql(Some(&token), query, vars).await;
        assert_eq!(
            error_code(&response),
            "INVALID_INPUT",
            "{query}: {response}"
        );
    }
    // An unknown merchant is simply not there.
    let data = t
        .ok(Some(&token), "query { membership(merchantId: \"99999\") { memberCode } merchant(id: \"99999\") { name } }", json!({}))
        .await;
    assert_eq!(data, json!({ "membership": null, "merchant": null }));
}

#[tokio::test]
async fn a_request_stuck_past_the_timeout_is_stopped_and_writes_nothing() {
    use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
    let t = TestApp::with_config(|c| c.request_timeout = std::time::Duration::from_secs(1)).await;
    let shop = t.shop(1).await;
    let user_id = shop.shoppers[0].1.clone();
    // Another client holds the write lock (SQLite) or the orders table (PostgreSQL).
    let blocker = sea_orm::Database::connect(&t.app.state.config.database_url)
        .await
        .unwrap();
    let held = blocker.begin().await.unwrap();
    let lock = match blocker.get_database_backend() {
        DbBackend::Postgres => "LOCK TABLE orders IN ACCESS EXCLUSIVE MODE",
        _ => "UPDATE platform_settings SET value = value",
    };
    held.execute_unprepared(lock).await.unwrap();

    let started = std::time::Instant::now();
    let response = t.order(&shop, &user_id, "10.00", json!({})).await;
    let took = started.elapsed();
    assert_eq!(error_code(&response), "UNAVAILABLE", "{response}");
    assert_eq!(response["errors"][0]["extensions"]["retryable"], true);
    assert!(response["data"].is_null());
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");

    held.rollback().await.unwrap();
    assert_eq!(t.count("orders").await, 0);
    // The same order, sent again, goes through.
    let again = t.order(&shop, &user_id, "10.00", json!({})).await;
    assert!(again.get("errors").is_none(), "{again}");
}

#[tokio::test]
async fn a_response_over_the_size_bound_is_refused() {
    let t = TestApp::with_config(|c| c.max_response_bytes = 4096).await;
    let (shopper, _) = t.shopper("small").await;
    t.ok(Some(&shopper), "{ me { id } }", json!({})).await;
    let response = t.gql(Some(&shopper), INTROSPECTION, json!({})).await;
    assert_eq!(error_code(&response), "INVALID_INPUT", "{response}");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("larger than 4096 bytes"));
    assert!(response["data"].is_null());
}

/// Documents are parsed and validated once and kept: every check still holds on every
/// request that sends one again, and what fails keeps failing the same way.
#[tokio::test]
async fn a_document_sent_again_is_checked_again() {
    let t = TestApp::with_config(|c| c.max_query_cost = 20).await;
    let production = TestApp::with_config(production).await;
    let (token, _) = t.shopper("alice").await;
    let costly = format!(
        "{{ me {{ {} }} }}",
        (0..25)
            .map(|i| format!("a{i}: id"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let two_operations = "query Fine { me { id } } query Unknown { me { noSuchField } }";
    for round in 0..3 {
        let fine = t.ok(Some(&token), "{ me { id } }", json!({})).await;
        assert!(fine["me"]["id"].is_string(), "round {round}: {fine}");

        // Validation fails each time, with the same message.
        let unknown = t
            .gql(Some(&token), "{ me { noSuchField } }", json!({}))
            .await;
        assert_eq!(error_code(&unknown), "INVALID_INPUT", "{unknown}");
        assert!(unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("noSuchField"));

        // The operation named is part of what was validated.
        let named = t
            .request(
                axum::http::Request::post("/graphql")
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {token}"))
                    .body(axum::body::Body::from(
                        json!({ "query": two_operations, "operationName": "Fine" }).to_string(),
                    ))
                    .unwrap(),
            )
            .await;
        let named: serde_json::Value = serde_json::from_slice(&named.1).unwrap();
        assert!(
            named["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("noSuchField"),
            "a document is valid only as a whole: {named}"
        );

        // Cost, introspection (production) and the text of inputs are checked every time.
        let too_costly = t.gql(Some(&token), &costly, json!({})).await;
        assert_eq!(error_code(&too_costly), "INVALID_INPUT");
        let introspection = production
            .gql(None, "{ __schema { types { name } } }", json!({}))
            .await;
        assert_eq!(error_code(&introspection), "FORBIDDEN", "{introspection}");
        let control = t
            .gql(
                Some(&token),
                "mutation { setNickname(nickname: \"a\\u0000b\") { id } }",
                json!({}),
            )
            .await;
        assert_eq!(error_code(&control), "INVALID_INPUT", "{control}");
    }
}

/// A document with variables is validated in full once and kept; every later request's
/// values are still checked against the arguments' types, with the same refusal as a full
/// validation gives, and a refused request changes nothing.
#[tokio::test]
async fn a_kept_document_still_checks_each_requests_variable_values() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (shopper, user_id) = &shop.shoppers[0];
    let rename = "mutation($n: String!) { setNickname(nickname: $n) { nickname } }";
    let input = |complete: Value| {
        json!({ "i": {
            "storeId": shop.merchant.store_id,
            "userId": user_id,
            "amount": "12.50",
            "idempotencyKey": unique("k"),
            "complete": complete,
        } })
    };

    // Refused before the document was ever kept: a full validation.
    let full_rename = t.gql(Some(shopper), rename, json!({ "n": 5 })).await;
    let full_order = t
        .gql(Some(&shop.cashier), RECORD, input(json!("yes")))
        .await;
    for refused in [&full_rename, &full_order] {
        assert_eq!(error_code(refused), "INVALID_INPUT", "{refused}");
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("Invalid value for argument"),
            "{refused}"
        );
        assert!(refused["data"].is_null(), "{refused}");
    }

    for round in 0..3 {
        // Good values: the document passes (and is kept from the first of them on).
        let renamed = t
            .ok(
                Some(shopper),
                rename,
                json!({ "n": format!("Ann {round}") }),
            )
            .await;
        assert_eq!(renamed["setNickname"]["nickname"], format!("Ann {round}"));
        let order = t.gql(Some(&shop.cashier), RECORD, input(json!(true))).await;
        assert_eq!(
            order["data"]["recordOrder"]["status"], "COMPLETED",
            "{order}"
        );

        // Bad values after it was kept: the same refusal, word for word.
        let rename_again = t.gql(Some(shopper), rename, json!({ "n": 5 })).await;
        assert_eq!(rename_again, full_rename, "round {round}");
        let order_again = t
            .gql(Some(&shop.cashier), RECORD, input(json!("yes")))
            .await;
        assert_eq!(order_again, full_order, "round {round}");
    }
    // Three orders, one per round: none of the refused ones was recorded.
    assert_eq!(t.count("orders").await, 3);
    let me = t.ok(Some(shopper), "{ me { nickname } }", json!({})).await;
    assert_eq!(me["me"]["nickname"], "Ann 2");
}
