//! `TestApp`: a fresh database, the real router, and a clock the test moves.

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use axum::{body::Body, http::Request, Router};
use chrono::{TimeZone, Utc};
use fenhong::{clock::ManualClock, config::Config, Fenhong};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "staff-password-1";

static UNIQUE: AtomicU64 = AtomicU64::new(1);

/// A short name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

pub struct TestApp {
    pub app: Fenhong,
    pub router: Router,
    pub clock: Arc<ManualClock>,
    sqlite_file: Option<PathBuf>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

/// A database URL of a new, empty database: a temporary SQLite file, or a fresh database on
/// the PostgreSQL server that `DATABASE_URL` names.
pub async fn fresh_database_url() -> (String, Option<PathBuf>) {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = unique("fenhong_test_");
            let admin = Database::connect(&url)
                .await
                .expect("connect to PostgreSQL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a test database");
            admin.close().await.ok();
            let base = match url.rfind('/') {
                Some(i) if i > "postgres://".len() => &url[..i],
                _ => url.as_str(),
            };
            (format!("{base}/{name}"), None)
        }
        _ => {
            let path = std::env::temp_dir().join(format!("{}.db", unique("fenhong-test-")));
            (format!("sqlite://{}?mode=rwc", path.display()), Some(path))
        }
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut Config)) -> Self {
        let (url, sqlite_file) = fresh_database_url().await;
        let mut config = Config::development(url);
        config.admin_password = Some(ADMIN_PASSWORD.into());
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        ));
        let app = Fenhong::start(config, Some(clock.clone()))
            .await
            .expect("start the gateway");
        let router = app.router();
        Self {
            app,
            router,
            clock,
            sqlite_file,
        }
    }

    /// Sends a raw HTTP request through the router.
    pub async fn request(&self, request: Request<Body>) -> (u16, Vec<u8>) {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, body)
    }

    /// Posts a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, bytes) = self.request(request.body(Body::from(body)).unwrap()).await;
        assert_eq!(
            status,
            200,
            "GraphQL answers 200: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).expect("JSON response")
    }

    /// Posts a GraphQL request that must succeed; returns its `data`.
    pub async fn ok(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self.gql(token, query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors: {response}"
        );
        response["data"].clone()
    }

    pub async fn staff_login(&self, username: &str, password: &str) -> String {
        let data = self
            .ok(
                None,
                "mutation($u: String!, $p: String!) { staffLogin(username: $u, password: $p) { token } }",
                json!({ "u": username, "p": password }),
            )
            .await;
        data["staffLogin"]["token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.staff_login("admin", ADMIN_PASSWORD).await
    }

    /// Logs a shopper in (development login mode) and returns (token, user id).
    pub async fn shopper(&self, code: &str) -> (String, String) {
        let data = self
            .ok(
                None,
                "mutation($c: String!) { loginWithWechat(code: $c) { token user { id } } }",
                json!({ "c": code }),
            )
            .await;
        let login = &data["loginWithWechat"];
        (
            login["token"].as_str().unwrap().to_owned(),
            login["user"]["id"].as_str().unwrap().to_owned(),
        )
    }

    /// A merchant with one store: (merchant id, owner username, owner token, store id, store scene).
    pub async fn merchant_with_store(&self, name: &str) -> Merchant {
        let admin = self.admin_token().await;
        let owner = unique("owner");
        let data = self
            .ok(
                Some(&admin),
                "mutation($i: CreateMerchantInput!) { createMerchant(input: $i) { id name } }",
                json!({ "i": { "name": name, "ownerUsername": owner, "ownerPassword": PASSWORD } }),
            )
            .await;
        let id = data["createMerchant"]["id"].as_str().unwrap().to_owned();
        let owner_token = self.staff_login(&owner, PASSWORD).await;
        let data = self
            .ok(
                Some(&owner_token),
                "mutation($m: ID!) { createStore(merchantId: $m, name: \"Main street\") { id qrCode { scene } } }",
                json!({ "m": id }),
            )
            .await;
        Merchant {
            id,
            owner_token,
            store_id: data["createStore"]["id"].as_str().unwrap().to_owned(),
            store_scene: data["createStore"]["qrCode"]["scene"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }

    /// Creates a staff member with `role` and returns a token for them.
    pub async fn staff(&self, merchant: &Merchant, role: &str) -> String {
        let username = unique(&role.to_lowercase());
        self.ok(
            Some(&merchant.owner_token),
            "mutation($m: ID!, $u: String!, $p: String!, $r: StaffRole!) { createStaff(merchantId: $m, username: $u, password: $p, role: $r) { id } }",
            json!({ "m": merchant.id, "u": username, "p": PASSWORD, "r": role }),
        )
        .await;
        self.staff_login(&username, PASSWORD).await
    }

    /// The shopper joins by `scene`; returns the membership's fields.
    pub async fn join(&self, token: &str, scene: &str) -> Value {
        let data = self
            .ok(
                Some(token),
                "mutation($s: String!) { joinByScene(scene: $s) { justJoined memberCode store { id } referrer { id } referralCode { scene } } }",
                json!({ "s": scene }),
            )
            .await;
        data["joinByScene"].clone()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let row = self
            .app
            .state
            .db
            .query_one(sea_orm::Statement::from_string(
                self.app.state.db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

pub struct Merchant {
    pub id: String,
    pub owner_token: String,
    pub store_id: String,
    pub store_scene: String,
}

/// The `extensions.code` of the first error of a response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {response}"))
}
