//! Oversized, too-deep and too-complex requests are refused before they do work.

use serde_json::json;

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
    // me → memberships → user → memberships → … 18 levels deep.
    let mut query = String::from("id");
    for _ in 0..8 {
        query = format!("memberships {{ user {{ {query} }} }}");
    }
    let response = t
        .gql(Some(&token), &format!("{{ me {{ {query} }} }}"), json!({}))
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("nested too deep"));
    assert_eq!(response["data"], json!(null));
}

#[tokio::test]
async fn a_query_over_the_complexity_limit_is_refused() {
    let t = TestApp::with_config(|c| c.max_query_complexity = 20).await;
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
        .contains("complex"));
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
