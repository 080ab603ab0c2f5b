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
use fenhong::{
    clock::{Clock, ManualClock},
    config::Config,
    Fenhong,
};
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

/// Production mode, with the secret and WeChat settings it requires (WeChat unreachable).
pub fn production(c: &mut Config) {
    c.environment = fenhong::config::Environment::Production;
    c.jwt_secret = Some("a-production-secret-of-more-than-32-characters".into());
    c.wechat = Some(fenhong::config::WechatConfig {
        appid: "wx-production-test".into(),
        secret: "secret".into(),
        api_base: "http://127.0.0.1:9".into(),
    });
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
        Self::with_database_hook(adjust, |_| {}).await
    }

    /// A gateway whose database connection counts the statements it runs, apart from the
    /// live relay's reads of its outbox (which run on their own schedule).
    pub async fn counting_statements(adjust: impl FnOnce(&mut Config)) -> (Self, Arc<AtomicU64>) {
        let count = Arc::new(AtomicU64::new(0));
        let counter = count.clone();
        let t = Self::with_database_hook(adjust, move |db| {
            db.set_metric_callback(move |info| {
                if !info.statement.sql.contains("live_outbox") {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .await;
        (t, count)
    }

    pub async fn with_database_hook(
        adjust: impl FnOnce(&mut Config),
        hook: impl FnOnce(&mut sea_orm::DatabaseConnection),
    ) -> Self {
        let (url, sqlite_file) = fresh_database_url().await;
        let mut config = Config::development(url);
        config.admin_password = Some(ADMIN_PASSWORD.into());
        // Redis when the run has one (each test app in its own key space), else in-process.
        config.redis_url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
        config.redis_prefix = unique("fenhong-test-");
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        ));
        let mut db = fenhong::db::connect(&config.database_url)
            .await
            .expect("connect the database");
        hook(&mut db);
        fenhong::db::migrate(&db).await.expect("migrate");
        let app = Fenhong::with_database(config, db, Some(clock.clone()))
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

pub const RECORD: &str = "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id status amount cashPaid pointsUsed programVersion rewards { kind amount unit beneficiary { id } } } }";

/// A merchant with a store, programs configured, and shoppers who joined it.
pub struct Shop {
    pub merchant: Merchant,
    pub cashier: String,
    pub shoppers: Vec<(String, String)>,
}

impl TestApp {
    /// Configures the merchant's programs (GraphQL `ProgramsInput`); returns `Programs`.
    pub async fn configure(&self, merchant: &Merchant, input: Value) -> Value {
        let data = self
            .ok(
                Some(&merchant.owner_token),
                "mutation($m: ID!, $i: ProgramsInput!) { configurePrograms(merchantId: $m, input: $i) { version payoutRatio } }",
                json!({ "m": merchant.id, "i": input }),
            )
            .await;
        data["configurePrograms"].clone()
    }

    /// A shop with the default rebate program (5 points per 100 yuan, 1.00 a point, a year,
    /// half an order payable in points) and `shoppers` members.
    pub async fn shop(&self, shoppers: usize) -> Shop {
        let merchant = self.merchant_with_store(&unique("Shop ")).await;
        self.configure(
            &merchant,
            json!({ "rebate": { "enabled": true, "rebateRate": "0.05" } }),
        )
        .await;
        let cashier = self.staff(&merchant, "CASHIER").await;
        let mut members = Vec::new();
        for i in 0..shoppers {
            let shopper = self.shopper(&unique(&format!("s{i}-"))).await;
            self.join(&shopper.0, &merchant.store_scene).await;
            members.push(shopper);
        }
        Shop {
            merchant,
            cashier,
            shoppers: members,
        }
    }

    /// Records (and by default completes) an order at the shop's store.
    pub async fn order(&self, shop: &Shop, user_id: &str, amount: &str, extra: Value) -> Value {
        let mut input = json!({
            "storeId": shop.merchant.store_id,
            "userId": user_id,
            "amount": amount,
            "idempotencyKey": unique("k"),
            "complete": true,
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            input[k] = v;
        }
        self.gql(Some(&shop.cashier), RECORD, json!({ "i": input }))
            .await
    }

    /// The shopper's wallet at the merchant.
    pub async fn wallet(&self, token: &str, merchant_id: &str) -> Value {
        let data = self
            .ok(
                Some(token),
                "query($m: ID!) { membership(merchantId: $m) { wallet { cash cashOnHold points transactions(first: 100) { edges { node { kind amount unit account orderId } } } } } }",
                json!({ "m": merchant_id }),
            )
            .await;
        data["membership"]["wallet"].clone()
    }

    /// Credits a shopper's cash through the ledger, funded by the merchant (as a queue share
    /// would be), so withdrawals have something to take.
    pub async fn credit_cash(&self, merchant_id: &str, user_id: &str, amount: &str) {
        use fenhong::ledger::{post, AccountKind, Cause, Owner, Posting};
        let amount: rust_decimal::Decimal = amount.parse().unwrap();
        let user = Owner::Shopper(user_id.parse().unwrap());
        post(
            &self.app.state.db,
            merchant_id.parse().unwrap(),
            Cause {
                kind: "TEST_CREDIT",
                ..Default::default()
            },
            &[
                Posting::new(
                    Owner::Merchant,
                    AccountKind::RewardFunding,
                    -amount,
                    "QUEUE_SHARE",
                ),
                Posting::new(user, AccountKind::Cash, amount, "QUEUE_SHARE"),
            ],
            self.clock.now(),
        )
        .await
        .unwrap();
    }

    /// Runs the clock-driven work as the background task would.
    pub async fn sweep(&self) -> fenhong::services::sweeps::SweepReport {
        fenhong::services::sweeps::run_once(&self.app.state.db, self.clock.now())
            .await
            .unwrap()
    }

    pub async fn assert_audit_clean(&self) {
        let report = fenhong::ledger::audit(&self.app.state.db).await.unwrap();
        assert!(report.is_clean(), "ledger audit failed:\n{report}");
    }
}

impl TestApp {
    /// The gateway restarted on the same database with changed settings (the clock is
    /// shared; the database stays with `self`).
    pub async fn restarted(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.app.state.config.clone();
        adjust(&mut config);
        let app = Fenhong::start(config, Some(self.clock.clone()))
            .await
            .expect("restart the gateway");
        let router = app.router();
        TestApp {
            app,
            router,
            clock: self.clock.clone(),
            sqlite_file: None,
        }
    }

    /// A second gateway instance on the same database (its own pool, state and router).
    pub async fn second_instance(&self) -> Fenhong {
        let config = self.app.state.config.clone();
        Fenhong::start(config, Some(self.clock.clone()))
            .await
            .expect("second instance")
    }
}

impl TestApp {
    /// Serves the router on a real socket; returns its address.
    pub async fn serve(&self) -> std::net::SocketAddr {
        serve(self.app.router()).await
    }
}

pub async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    address
}

/// A `graphql-transport-ws` client over a real WebSocket.
pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl WsClient {
    /// Connects and sends `connection_init` with the token; returns the server's answer
    /// (`connection_ack`, or the error/close it sent).
    pub async fn connect(address: std::net::SocketAddr, token: &str) -> (Self, Value) {
        let mut client = Self::open(address, Some("graphql-transport-ws")).await;
        client
            .send(json!({ "type": "connection_init", "payload": { "token": token } }))
            .await;
        let ack = client.next().await;
        (client, ack)
    }

    /// Opens the socket (asking for `protocol`, if any) and sends nothing.
    pub async fn open(address: std::net::SocketAddr, protocol: Option<&str>) -> Self {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{address}/graphql/ws")
            .into_client_request()
            .unwrap();
        if let Some(protocol) = protocol {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        Self { socket }
    }

    /// Sends a text frame as it is.
    pub async fn send_text(&mut self, text: &str) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .unwrap();
    }

    pub async fn send(&mut self, message: Value) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                message.to_string().into(),
            ))
            .await
            .unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message (answering pings); `{"type": "closed"}` when the server
    /// closed the connection. Fails after 15 s of silence.
    pub async fn next(&mut self) -> Value {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let message =
                tokio::time::timeout(std::time::Duration::from_secs(15), self.socket.next())
                    .await
                    .expect("a message within 15 s");
            match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return value;
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return json!({
                        "type": "closed",
                        "code": u16::from(frame.code),
                        "reason": frame.reason.as_str(),
                    })
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return json!({ "type": "closed" })
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next raw WebSocket frame of any kind (`None` when the connection ended).
    pub async fn next_frame(&mut self) -> Option<tokio_tungstenite::tungstenite::Message> {
        use futures::StreamExt;
        tokio::time::timeout(std::time::Duration::from_secs(15), self.socket.next())
            .await
            .expect("a frame within 15 s")
            .and_then(Result::ok)
    }

    /// Waits until nothing arrives for `quiet`: `None`, or the unexpected message.
    pub async fn silent_for(&mut self, quiet: std::time::Duration) -> Option<Value> {
        use futures::StreamExt;
        match tokio::time::timeout(quiet, self.socket.next()).await {
            Err(_) => None,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                serde_json::from_str(&text).ok()
            }
            Ok(other) => Some(json!({ "other": format!("{other:?}") })),
        }
    }
}

/// A Redis server of the test's own on a free port (`redis-server` from the machine), so a
/// test may flush or restart it without touching anything else.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (everything in it is gone: it keeps nothing on disk).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli is installed");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
