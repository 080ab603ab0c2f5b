//! `loginWithWechat` against a local stand-in that speaks WeChat's `code2Session` protocol.

use std::collections::HashMap;

use axum::{extract::Query, routing::get, Router};
use serde_json::json;

use crate::helpers::*;

const APPID: &str = "wx0123456789abcdef";
const SECRET: &str = "app-secret";
const SESSION_KEY: &str = "tiihtNczf5v6AKRyjwEUhQ==";

/// `GET /sns/jscode2session`: answers as WeChat does, as `text/plain` JSON.
async fn jscode2session(Query(q): Query<HashMap<String, String>>) -> String {
    let ok_params = q.get("appid").map(String::as_str) == Some(APPID)
        && q.get("secret").map(String::as_str) == Some(SECRET)
        && q.get("grant_type").map(String::as_str) == Some("authorization_code");
    if !ok_params {
        return json!({ "errcode": 40013, "errmsg": "invalid appid" }).to_string();
    }
    let code = q.get("js_code").cloned().unwrap_or_default();
    let reply = match code.as_str() {
        "invalid" => json!({ "errcode": 40029, "errmsg": "invalid code" }),
        "used" => json!({ "errcode": 40163, "errmsg": "code been used" }),
        "too-often" => json!({ "errcode": 45011, "errmsg": "api minute-quota reach limit" }),
        "risky" => json!({ "errcode": 40226, "errmsg": "code blocked" }),
        "busy" => json!({ "errcode": -1, "errmsg": "system error" }),
        "no-union" => json!({ "openid": "o-no-union", "session_key": SESSION_KEY }),
        other => json!({
            "openid": format!("o-{other}"),
            "unionid": format!("u-{other}"),
            "session_key": SESSION_KEY,
            "errcode": 0,
            "errmsg": "ok"
        }),
    };
    reply.to_string()
}

async fn stand_in() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route("/sns/jscode2session", get(jscode2session));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

const LOGIN: &str = "mutation($c: String!) { loginWithWechat(code: $c) { token user { id } } }";

#[tokio::test]
async fn login_through_code2session() {
    let base = stand_in().await;
    let t = TestApp::with_config(|c| {
        c.wechat = Some(fenhong::config::WechatConfig {
            appid: APPID.into(),
            secret: SECRET.into(),
            api_base: base,
        })
    })
    .await;
    let first = t.gql(None, LOGIN, json!({ "c": "alice" })).await;
    assert!(first.get("errors").is_none(), "{first}");
    assert!(
        !first.to_string().contains(SESSION_KEY),
        "session_key leaked: {first}"
    );
    // The same WeChat user logs in again: the same shopper.
    let second = t.ok(None, LOGIN, json!({ "c": "alice" })).await;
    assert_eq!(
        first["data"]["loginWithWechat"]["user"]["id"],
        second["loginWithWechat"]["user"]["id"]
    );
    let token = second["loginWithWechat"]["token"].as_str().unwrap();
    t.ok(Some(token), "{ me { id } }", json!({})).await;
    t.ok(None, LOGIN, json!({ "c": "no-union" })).await;
    assert_eq!(t.count("users").await, 2);

    // The development shortcut is off when WeChat is configured.
    let dev = t.ok(None, LOGIN, json!({ "c": "dev-anything" })).await;
    assert_ne!(
        dev["loginWithWechat"]["user"]["id"],
        second["loginWithWechat"]["user"]["id"]
    );

    for (code, expected, words) in [
        ("invalid", "INVALID_INPUT", "invalid"),
        ("used", "INVALID_INPUT", "invalid"),
        ("too-often", "RATE_LIMITED", "too many"),
        ("risky", "FORBIDDEN", "high-risk"),
        ("busy", "UNAVAILABLE", "busy"),
    ] {
        let response = t.gql(None, LOGIN, json!({ "c": code })).await;
        assert_eq!(error_code(&response), expected, "{code}: {response}");
        assert!(
            response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{response}"
        );
    }
    assert_eq!(t.count("users").await, 3);
}

#[tokio::test]
async fn an_unreachable_wechat_is_unavailable_and_retryable_and_shows_nothing() {
    let t = TestApp::with_config(|c| {
        c.wechat = Some(fenhong::config::WechatConfig {
            appid: APPID.into(),
            secret: SECRET.into(),
            api_base: "http://127.0.0.1:9".into(),
        })
    })
    .await;
    let response = t.gql(None, LOGIN, json!({ "c": "alice" })).await;
    assert_eq!(error_code(&response), "UNAVAILABLE");
    assert_eq!(response["errors"][0]["extensions"]["retryable"], true);
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("WeChat could not be reached"), "{message}");
    assert!(!message.contains("127.0.0.1"), "{message}");
    assert_eq!(t.count("users").await, 0);
}

#[tokio::test]
async fn development_login_mode_uses_dev_openids() {
    let t = TestApp::new().await;
    let (_, id) = t.shopper("alice").await;
    let (_, again) = t.shopper("alice").await;
    assert_eq!(id, again);
    let response = t.gql(None, LOGIN, json!({ "c": "" })).await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    let row =
        <entity::user::Entity as sea_orm::EntityTrait>::find_by_id(id.parse::<i64>().unwrap())
            .one(&t.app.state.db)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.openid, "dev-alice");
}
