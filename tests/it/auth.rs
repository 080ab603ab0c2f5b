//! Tokens: expiry on the service clock, tampering, merchant scoping, passwords.

use chrono::Duration;
use fenhong::{
    auth::{Claims, TokenKeys},
    clock::Clock,
};
use serde_json::json;

use crate::helpers::*;

const ME: &str = "{ me { id } }";

#[tokio::test]
async fn an_expired_token_is_refused_with_a_clear_error() {
    let t = TestApp::new().await;
    let (token, _) = t.shopper("alice").await;
    t.ok(Some(&token), ME, json!({})).await;
    t.clock.advance(Duration::days(7) + Duration::seconds(1));
    let response = t.gql(Some(&token), ME, json!({})).await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // Logging in again still works with the stale header present.
    let relogin = t
        .gql(
            Some(&token),
            "mutation { loginWithWechat(code: \"alice\") { token } }",
            json!({}),
        )
        .await;
    assert!(relogin.get("errors").is_none(), "{relogin}");
}

#[tokio::test]
async fn a_tampered_or_foreign_token_is_refused() {
    let t = TestApp::new().await;
    let (token, user_id) = t.shopper("alice").await;
    // Flip one character of the signature.
    let mut bytes = token.clone().into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    // Claims rewritten to another user, signed with another key.
    let other_key = TokenKeys::new(
        b"not the server's secret",
        std::time::Duration::from_secs(3600),
    );
    let now = t.clock.now();
    let forged = other_key
        .sign(&Claims {
            iss: "fenhong".into(),
            sub: "admin:1".into(),
            mid: None,
            role: None,
            iat: now.timestamp(),
            exp: now.timestamp() + 3600,
            ver: 0,
        })
        .unwrap();
    for bad in [tampered.as_str(), forged.as_str(), "not-a-jwt"] {
        let response = t.gql(Some(bad), ME, json!({})).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{bad}");
        let response = t
            .gql(Some(bad), "mutation { createMerchant(input: { name: \"X\", ownerUsername: \"xowner\", ownerPassword: \"password-1\" }) { id } }", json!({}))
            .await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED");
    }
    assert_eq!(t.count("merchants").await, 0);
    let data = t.ok(Some(&token), ME, json!({})).await;
    assert_eq!(data["me"]["id"], user_id.as_str());
}

#[tokio::test]
async fn a_token_for_merchant_a_is_useless_at_merchant_b() {
    let t = TestApp::new().await;
    let a = t.merchant_with_store("A").await;
    let b = t.merchant_with_store("B").await;
    let (shopper, _) = t.shopper("alice").await;
    t.join(&shopper, &b.store_scene).await;
    for (query, vars) in [
        ("mutation($m: ID!) { createStore(merchantId: $m, name: \"Sneaky\") { id } }", json!({ "m": b.id })),
        ("mutation($m: ID!) { createStaff(merchantId: $m, username: \"sneaky\", password: \"password-1\", role: OWNER) { id } }", json!({ "m": b.id })),
        ("query($m: ID!) { members(merchantId: $m) { edges { node { memberCode } } } }", json!({ "m": b.id })),
    ] {
        let response = t.gql(Some(&a.owner_token), query, vars).await;
        assert_eq!(error_code(&response), "FORBIDDEN", "{query}");
    }
    let response = t
        .gql(
            Some(&a.owner_token),
            "query($m: ID!) { merchant(id: $m) { stores { qrCode { scene } } } }",
            json!({ "m": b.id }),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    assert_eq!(t.count("stores").await, 2);
    assert_eq!(t.count("staff").await, 2);
}

#[tokio::test]
async fn staff_login_refuses_wrong_passwords_alike() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("A").await;
    let _ = m;
    let login =
        "mutation($u: String!, $p: String!) { staffLogin(username: $u, password: $p) { token } }";
    let wrong = t
        .gql(None, login, json!({ "u": "admin", "p": "wrong-password" }))
        .await;
    let unknown = t
        .gql(None, login, json!({ "u": "nobody", "p": "wrong-password" }))
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
}

#[tokio::test]
async fn usernames_are_unique_and_admin_is_reserved() {
    let t = TestApp::new().await;
    let admin = t.admin_token().await;
    let create = "mutation($u: String!, $p: String!) { createMerchant(input: { name: \"Shop\", ownerUsername: $u, ownerPassword: $p }) { id } }";
    t.ok(
        Some(&admin),
        create,
        json!({ "u": "shop.owner", "p": PASSWORD }),
    )
    .await;
    let taken = t
        .gql(
            Some(&admin),
            create,
            json!({ "u": "Shop.Owner", "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&taken), "CONFLICT");
    let reserved = t
        .gql(Some(&admin), create, json!({ "u": "admin", "p": PASSWORD }))
        .await;
    assert_eq!(error_code(&reserved), "CONFLICT");
    let short = t
        .gql(
            Some(&admin),
            create,
            json!({ "u": "someone", "p": "short" }),
        )
        .await;
    assert_eq!(error_code(&short), "INVALID_INPUT");
    let bad_name = t
        .gql(
            Some(&admin),
            create,
            json!({ "u": "has space", "p": PASSWORD }),
        )
        .await;
    assert_eq!(error_code(&bad_name), "INVALID_INPUT");
    // A failed creation leaves no half-made merchant behind.
    assert_eq!(t.count("merchants").await, 1);
    assert_eq!(t.count("staff").await, 1);
}

#[tokio::test]
async fn the_development_secret_survives_a_restart() {
    let t = TestApp::new().await;
    let (token, user_id) = t.shopper("alice").await;
    let again =
        fenhong::Fenhong::with_database(t.app.state.config.clone(), t.app.state.db.clone(), None)
            .await
            .unwrap();
    let verified = again.state.tokens.verify(&token, t.clock.now()).unwrap();
    assert_eq!(
        verified.principal,
        fenhong::auth::Principal::Shopper {
            user_id: user_id.parse().unwrap()
        }
    );
}

#[tokio::test]
async fn production_hides_introspection_and_graphiql() {
    let t = TestApp::with_config(production).await;
    let response = t
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN", "{response}");
    assert!(response.get("data").is_none(), "{response}");
    let (status, body) = t
        .request(
            axum::http::Request::get("/graphql")
                .header("accept", "text/html")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(status, 406);
    assert!(!String::from_utf8_lossy(&body).contains("graphiql"));
    // Production without a JWT secret does not start.
    let mut config = fenhong::config::Config::development("sqlite::memory:");
    config.environment = fenhong::config::Environment::Production;
    assert!(config.validate().is_err());
}
