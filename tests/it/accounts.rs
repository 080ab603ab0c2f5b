//! Account protections: the login limiter, equal timing, revocation by disabling or a new
//! password (staff and the platform account), and API keys for systems.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const LOGIN: &str =
    "mutation($u: String!, $p: String!) { staffLogin(username: $u, password: $p) { token } }";
const UPDATE: &str =
    "mutation($s: ID!, $i: UpdateStaffInput!) { updateStaff(staffId: $s, input: $i) { id role disabled } }";
const ORDERS: &str =
    "query($m: ID!) { orders(merchantId: $m, first: 5) { edges { node { id } } } }";
/// Managers and owners only.
const OPEN_STORE: &str =
    "mutation($m: ID!) { createStore(merchantId: $m, name: \"Second street\") { id } }";
const CREATE_KEY: &str = "mutation($m: ID!, $n: String!, $r: StaffRole!) { createApiKey(merchantId: $m, name: $n, role: $r) { secret apiKey { id name role revokedAt } } }";
const REVOKE_KEY: &str = "mutation($k: ID!) { revokeApiKey(id: $k) { id revokedAt } }";

async fn login(t: &TestApp, username: &str, password: &str) -> Value {
    t.gql(None, LOGIN, json!({ "u": username, "p": password }))
        .await
}

/// A staff member of `merchant` with `role`: (staff id, username, token).
async fn staff_member(t: &TestApp, merchant: &Merchant, role: &str) -> (String, String, String) {
    let username = unique(&role.to_lowercase());
    let data = t
        .ok(
            Some(&merchant.owner_token),
            "mutation($m: ID!, $u: String!, $p: String!, $r: StaffRole!) { createStaff(merchantId: $m, username: $u, password: $p, role: $r) { id } }",
            json!({ "m": merchant.id, "u": username, "p": PASSWORD, "r": role }),
        )
        .await;
    let id = data["createStaff"]["id"].as_str().unwrap().to_owned();
    let token = t.staff_login(&username, PASSWORD).await;
    (id, username, token)
}

fn message(response: &Value) -> &str {
    response["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn the_eleventh_login_attempt_in_a_minute_is_rate_limited_even_with_the_right_password() {
    let t = TestApp::new().await;
    let merchant = t.merchant_with_store("Limited café").await;
    let (_, cashier, _) = staff_member(&t, &merchant, "CASHIER").await;
    // One login above; nine wrong guesses fill the minute.
    for _ in 0..9 {
        let response = login(&t, &cashier, "wrong-password").await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{response}");
    }
    for password in ["wrong-password", PASSWORD] {
        let response = login(&t, &cashier, password).await;
        assert_eq!(error_code(&response), "RATE_LIMITED", "{response}");
        let wait = response["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .expect("retryAfterSeconds");
        assert!((1..=60).contains(&wait), "{response}");
    }
    // Other accounts are not locked by it (in-process requests carry no client address).
    let owner_login = t
        .gql(None, LOGIN, json!({ "u": "admin", "p": ADMIN_PASSWORD }))
        .await;
    assert!(owner_login.get("errors").is_none(), "{owner_login}");
}

#[tokio::test]
async fn one_client_address_guessing_many_usernames_is_rate_limited() {
    let t = TestApp::new().await;
    let address = t.serve().await;
    let client = reqwest::Client::new();
    let mut codes = Vec::new();
    for i in 0..11 {
        let response: Value = client
            .post(format!("http://{address}/graphql"))
            .json(&json!({ "query": LOGIN, "variables": { "u": format!("nobody{i}"), "p": "guess-1234" } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(error_code(&response).to_owned());
    }
    assert_eq!(codes[..10], vec!["UNAUTHENTICATED"; 10]);
    assert_eq!(codes[10], "RATE_LIMITED");
}

#[tokio::test]
async fn an_unknown_username_costs_as_much_time_as_a_wrong_password() {
    let t = TestApp::with_config(|c| c.login_attempts_per_minute = 1000).await;
    let merchant = t.merchant_with_store("Timing café").await;
    let (_, cashier, _) = staff_member(&t, &merchant, "CASHIER").await;
    async fn timed(t: &TestApp, username: &str) -> Duration {
        let started = Instant::now();
        let response = login(t, username, "wrong-password").await;
        assert_eq!(message(&response), "wrong username or password");
        started.elapsed()
    }
    // Interleaved, so both see the same load; the fastest of each is the work itself (a
    // busy machine only ever adds time).
    let (mut known, mut unknown) = (Duration::MAX, Duration::MAX);
    for _ in 0..15 {
        known = known.min(timed(&t, &cashier).await);
        unknown = unknown.min(timed(&t, "no-such-user").await);
    }
    // Both run one password check; without it an unknown name was answered in a fraction of
    // the time (the leak). The other way round only a loaded machine's noise is allowed.
    assert!(
        unknown * 2 >= known && known * 3 >= unknown,
        "known {known:?}, unknown {unknown:?}"
    );
}

#[tokio::test]
async fn disabling_a_cashier_revokes_her_tokens_and_refuses_her_logins() {
    let t = TestApp::new().await;
    let merchant = t.merchant_with_store("Fired café").await;
    let (id, username, token) = staff_member(&t, &merchant, "CASHIER").await;
    t.ok(Some(&token), ORDERS, json!({ "m": merchant.id }))
        .await;

    let data = t
        .ok(
            Some(&merchant.owner_token),
            UPDATE,
            json!({ "s": id, "i": { "disabled": true } }),
        )
        .await;
    assert_eq!(data["updateStaff"]["disabled"], true);
    let refused = t
        .gql(Some(&token), ORDERS, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    assert!(message(&refused).contains("revoked"), "{refused}");
    let login_refused = login(&t, &username, PASSWORD).await;
    assert_eq!(error_code(&login_refused), "UNAUTHENTICATED");
    assert!(message(&login_refused).contains("disabled"));
    // A wrong password for a disabled account says nothing about it.
    assert_eq!(
        message(&login(&t, &username, "wrong-password").await),
        "wrong username or password"
    );

    // Enabled again: she logs in anew; the old token stays revoked.
    t.ok(
        Some(&merchant.owner_token),
        UPDATE,
        json!({ "s": id, "i": { "disabled": false } }),
    )
    .await;
    let fresh = t.staff_login(&username, PASSWORD).await;
    t.ok(Some(&fresh), ORDERS, json!({ "m": merchant.id }))
        .await;
    let still = t
        .gql(Some(&token), ORDERS, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&still), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_new_password_revokes_older_tokens_and_a_role_change_applies_at_once() {
    let t = TestApp::new().await;
    let merchant = t.merchant_with_store("Password café").await;
    let (id, username, token) = staff_member(&t, &merchant, "CASHIER").await;
    // Promoted to manager: the same token may now open a store.
    let before = t
        .gql(Some(&token), OPEN_STORE, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&before), "FORBIDDEN", "{before}");
    t.ok(
        Some(&merchant.owner_token),
        UPDATE,
        json!({ "s": id, "i": { "role": "MANAGER" } }),
    )
    .await;
    t.ok(Some(&token), OPEN_STORE, json!({ "m": merchant.id }))
        .await;

    t.ok(
        Some(&merchant.owner_token),
        UPDATE,
        json!({ "s": id, "i": { "password": "a-new-password-2" } }),
    )
    .await;
    let refused = t
        .gql(Some(&token), ORDERS, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    assert_eq!(
        message(&login(&t, &username, PASSWORD).await),
        "wrong username or password"
    );
    let fresh = t.staff_login(&username, "a-new-password-2").await;
    t.ok(Some(&fresh), OPEN_STORE, json!({ "m": merchant.id }))
        .await;
}

#[tokio::test]
async fn only_an_owner_updates_staff_of_her_own_merchant_and_never_locks_herself_out() {
    let t = TestApp::new().await;
    let merchant = t.merchant_with_store("Own café").await;
    let other = t.merchant_with_store("Other café").await;
    let (cashier_id, _, cashier) = staff_member(&t, &merchant, "CASHIER").await;
    let (_, _, manager) = staff_member(&t, &merchant, "MANAGER").await;

    let by_manager = t
        .gql(
            Some(&manager),
            UPDATE,
            json!({ "s": cashier_id, "i": { "role": "MANAGER" } }),
        )
        .await;
    assert_eq!(error_code(&by_manager), "FORBIDDEN");
    let foreign = t
        .gql(
            Some(&other.owner_token),
            UPDATE,
            json!({ "s": cashier_id, "i": { "disabled": true } }),
        )
        .await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");

    let owner_id = t
        .ok(
            Some(&merchant.owner_token),
            "query($m: ID!) { merchant(id: $m) { staff { id role } } }",
            json!({ "m": merchant.id }),
        )
        .await["merchant"]["staff"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for input in [json!({ "disabled": true }), json!({ "role": "CASHIER" })] {
        let response = t
            .gql(
                Some(&merchant.owner_token),
                UPDATE,
                json!({ "s": owner_id, "i": input }),
            )
            .await;
        assert_eq!(error_code(&response), "INVALID_INPUT", "{response}");
    }
    let short = t
        .gql(
            Some(&merchant.owner_token),
            UPDATE,
            json!({ "s": cashier_id, "i": { "password": "short" } }),
        )
        .await;
    assert_eq!(error_code(&short), "INVALID_INPUT");
    // Nothing changed by the refusals: the cashier's token still works.
    t.ok(Some(&cashier), ORDERS, json!({ "m": merchant.id }))
        .await;
    let listed = t
        .gql(
            Some(&cashier),
            "query($m: ID!) { merchant(id: $m) { staff { id } } }",
            json!({ "m": merchant.id }),
        )
        .await;
    assert_eq!(error_code(&listed), "FORBIDDEN");
}

#[tokio::test]
async fn a_new_platform_password_revokes_admin_tokens_and_the_same_one_keeps_them() {
    let t = TestApp::new().await;
    let admin = t.admin_token().await;
    const MERCHANTS: &str = "mutation { createMerchant(input: { name: \"x\", ownerUsername: \"\", ownerPassword: \"\" }) { id } }";
    let still_admin = |response: &Value| error_code(response) == "INVALID_INPUT";

    let same = t.restarted(|_| {}).await;
    assert!(still_admin(
        &same.gql(Some(&admin), MERCHANTS, json!({})).await
    ));

    let changed = t
        .restarted(|c| c.admin_password = Some("another-admin-password".into()))
        .await;
    let refused = changed.gql(Some(&admin), MERCHANTS, json!({})).await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED", "{refused}");
    assert!(message(&refused).contains("revoked"));
    assert_eq!(
        message(&login(&changed, "admin", ADMIN_PASSWORD).await),
        "wrong username or password"
    );
    let fresh = changed.staff_login("admin", "another-admin-password").await;
    assert!(still_admin(
        &changed.gql(Some(&fresh), MERCHANTS, json!({})).await
    ));
}

#[tokio::test]
async fn an_api_key_records_orders_with_its_role_until_it_is_revoked() {
    let t = TestApp::new().await;
    let merchant = t.merchant_with_store("POS café").await;
    let other = t.merchant_with_store("Other café").await;
    let (shopper, user_id) = t.shopper("key-shopper").await;
    t.join(&shopper, &merchant.store_scene).await;

    let created = t
        .ok(
            Some(&merchant.owner_token),
            CREATE_KEY,
            json!({ "m": merchant.id, "n": "Till 1 POS", "r": "CASHIER" }),
        )
        .await["createApiKey"]
        .clone();
    let key_id = created["apiKey"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(created["apiKey"]["role"], "CASHIER");
    let hex_part = secret
        .strip_prefix(&format!("fhk_{key_id}_"))
        .expect("fhk_<id>_<secret>");
    assert_eq!(hex_part.len(), 64);

    // Stored hashed: the secret is nowhere in the database.
    let stored: String = {
        use sea_orm::EntityTrait;
        entity::api_key::Entity::find_by_id(key_id.parse::<i64>().unwrap())
            .one(&t.app.state.db)
            .await
            .unwrap()
            .unwrap()
            .secret_hash
    };
    assert_eq!(stored, hex::encode(Sha256::digest(hex_part.as_bytes())));

    // The key acts as a cashier of its merchant.
    let order = t
        .ok(
            Some(&secret),
            "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id amount status } }",
            json!({ "i": { "storeId": merchant.store_id, "userId": user_id, "amount": "58.00", "idempotencyKey": "pos-1", "complete": true } }),
        )
        .await;
    assert_eq!(order["recordOrder"]["amount"], "58.00");
    let manager_only = t
        .gql(Some(&secret), OPEN_STORE, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&manager_only), "FORBIDDEN");
    let foreign = t.gql(Some(&secret), ORDERS, json!({ "m": other.id })).await;
    assert_eq!(error_code(&foreign), "FORBIDDEN");

    // Listed without secrets; another merchant cannot see or revoke it; a manager cannot
    // create one.
    let listed = t
        .ok(
            Some(&merchant.owner_token),
            "query($m: ID!) { apiKeys(merchantId: $m) { id name role lastUsedAt revokedAt } }",
            json!({ "m": merchant.id }),
        )
        .await;
    assert_eq!(listed["apiKeys"][0]["name"], "Till 1 POS");
    assert!(listed["apiKeys"][0]["lastUsedAt"].is_string());
    assert!(!listed.to_string().contains(hex_part));
    let (_, _, manager) = staff_member(&t, &merchant, "MANAGER").await;
    let by_manager = t
        .gql(
            Some(&manager),
            CREATE_KEY,
            json!({ "m": merchant.id, "n": "x", "r": "OWNER" }),
        )
        .await;
    assert_eq!(error_code(&by_manager), "FORBIDDEN");
    let foreign_revoke = t
        .gql(Some(&other.owner_token), REVOKE_KEY, json!({ "k": key_id }))
        .await;
    assert_eq!(error_code(&foreign_revoke), "NOT_FOUND");

    // A wrong secret for the right id, or garbage, is refused.
    let wrong = format!("fhk_{key_id}_{}", "0".repeat(64));
    for bad in [wrong.as_str(), "fhk_x_y", "fhk_999999_abc"] {
        let response = t.gql(Some(bad), ORDERS, json!({ "m": merchant.id })).await;
        assert_eq!(
            error_code(&response),
            "UNAUTHENTICATED",
            "{bad}: {response}"
        );
    }

    let revoked = t
        .ok(
            Some(&merchant.owner_token),
            REVOKE_KEY,
            json!({ "k": key_id }),
        )
        .await;
    assert!(revoked["revokeApiKey"]["revokedAt"].is_string());
    let refused = t
        .gql(Some(&secret), ORDERS, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    assert!(message(&refused).contains("revoked"));
    assert_eq!(t.count("orders").await, 1);
}

#[tokio::test]
async fn an_api_key_opens_a_live_connection_and_a_revoked_one_cannot_subscribe() {
    let t = TestApp::new().await;
    let merchant = t.merchant_with_store("Feed café").await;
    let created = t
        .ok(
            Some(&merchant.owner_token),
            CREATE_KEY,
            json!({ "m": merchant.id, "n": "Feed reader", "r": "MANAGER" }),
        )
        .await["createApiKey"]
        .clone();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let address = t.serve().await;
    let (mut ws, ack) = WsClient::connect(address, &secret).await;
    assert_eq!(ack["type"], "connection_ack");
    t.ok(
        Some(&merchant.owner_token),
        REVOKE_KEY,
        json!({ "k": created["apiKey"]["id"] }),
    )
    .await;
    ws.subscribe(
        "1",
        "subscription($m: ID!) { merchantFeed(merchantId: $m) { __typename } }",
        json!({ "m": merchant.id }),
    )
    .await;
    let closed = ws.next().await;
    assert_eq!(closed["code"], 4403, "{closed}");
}

/// A staff token is checked against the account as read at most `FENHONG_STAFF_CACHE_MS`
/// ago: a change made through an instance applies there at once, and on every other
/// instance once that time has passed.
#[tokio::test]
async fn a_disabled_account_is_refused_at_once_here_and_soon_on_another_instance() {
    let t = TestApp::with_config(|c| c.staff_cache = std::time::Duration::from_millis(300)).await;
    let merchant = t.merchant_with_store("Two doors café").await;
    let (cashier_id, _, cashier) = staff_member(&t, &merchant, "CASHIER").await;
    let other = t.second_instance().await.router();
    let on_other = |token: String| {
        let other = other.clone();
        let body = json!({ "query": ORDERS, "variables": { "m": merchant.id } }).to_string();
        async move {
            let request = axum::http::Request::post("/graphql")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::from(body))
                .unwrap();
            let response = tower::ServiceExt::oneshot(other, request).await.unwrap();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };
    // Both instances have checked her token (and keep the account for a moment).
    t.ok(Some(&cashier), ORDERS, json!({ "m": merchant.id }))
        .await;
    let before = on_other(cashier.clone()).await;
    assert!(before.get("errors").is_none(), "{before}");

    t.ok(
        Some(&merchant.owner_token),
        UPDATE,
        json!({ "s": cashier_id, "i": { "disabled": true } }),
    )
    .await;
    // Refused at once through the instance that made the change.
    let here = t
        .gql(Some(&cashier), ORDERS, json!({ "m": merchant.id }))
        .await;
    assert_eq!(error_code(&here), "UNAUTHENTICATED");
    // And on the other one once its copy is older than the cache time.
    tokio::time::sleep(std::time::Duration::from_millis(350)).await;
    let there = on_other(cashier.clone()).await;
    assert_eq!(error_code(&there), "UNAUTHENTICATED", "{there}");
}
