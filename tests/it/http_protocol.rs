//! GraphQL over HTTP as the spec says: every failure a JSON body with a code and a fitting
//! status, content negotiation, `GET` for queries, field errors that null the right field,
//! and production answers that show nothing of the schema or the server.

use axum::{body::Body, http::Request};
use serde_json::{json, Value};

use crate::helpers::*;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const TYPENAME: &str = r#"{"query":"{ __typename }"}"#;

/// A raw request: (status, content type, body as JSON).
async fn send(t: &TestApp, request: Request<Body>) -> (u16, String, Value) {
    let response = tower::ServiceExt::oneshot(t.router.clone(), request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "status {status} with a body that is not JSON: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, content_type, body)
}

fn post_body(body: impl Into<Body>) -> Request<Body> {
    post_with("application/json", None, body)
}

/// A POST of `body` with that content type (none when empty) and `Accept`.
fn post_with(content_type: &str, accept: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/graphql");
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.body(body.into()).unwrap()
}

/// A refusal: JSON with one error, its code, and no trace of Rust or serde.
fn assert_refusal(body: &Value, code: &str) {
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], code, "{body}");
    let message = error["message"].as_str().unwrap();
    for internal in [
        "Error(",
        "line:",
        "InvalidRequest",
        "serde",
        "column",
        "panicked",
    ] {
        assert!(!message.contains(internal), "{message}");
    }
    assert!(body.get("data").is_none(), "{body}");
}

#[tokio::test]
async fn every_http_failure_is_a_json_error_without_internals() {
    let t = TestApp::new().await;
    let big =
        json!({ "query": format!("{{ me {{ id }} }}#{}", "x".repeat(70 * 1024)) }).to_string();
    let cases: Vec<(&str, Request<Body>, u16)> = vec![
        ("not JSON", post_body("{ not json"), 400),
        ("an empty body", post_body(""), 400),
        ("a batch", post_body(r#"[{"query":"{ __typename }"}]"#), 400),
        ("no query", post_body(r#"{"variables":{}}"#), 400),
        (
            "a query that is not a string",
            post_body(r#"{"query":7}"#),
            400,
        ),
        (
            "variables that are not an object",
            post_body(r#"{"query":"{ __typename }","variables":"x"}"#),
            400,
        ),
        ("a body over the limit", post_body(big.clone()), 413),
        (
            "a body over the limit, declared",
            Request::post("/graphql")
                .header("content-type", "application/json")
                .header("content-length", big.len())
                .body(Body::from(big))
                .unwrap(),
            413,
        ),
        (
            "a text/plain body",
            post_with("text/plain", None, TYPENAME),
            415,
        ),
        ("no content type", post_with("", None, TYPENAME), 415),
        (
            "a PUT",
            Request::put("/graphql").body(Body::empty()).unwrap(),
            405,
        ),
        (
            "nothing acceptable",
            post_with("application/json", Some("text/xml"), TYPENAME),
            406,
        ),
        (
            "a WebSocket endpoint without an upgrade",
            Request::get("/graphql/ws").body(Body::empty()).unwrap(),
            400,
        ),
    ];
    for (what, request, expected) in cases {
        let (status, content_type, body) = send(&t, request).await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {content_type}"
        );
        assert_refusal(&body, "INVALID_INPUT");
    }
    assert_eq!(t.count("users").await, 0);
}

#[tokio::test]
async fn the_response_type_follows_accept() {
    let t = TestApp::new().await;
    let body = r#"{"query":"{ __typename }"}"#;
    for (accept, expected) in [
        (None, "application/json"),
        (Some("application/json"), "application/json"),
        (Some("*/*"), "application/json"),
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (
            Some("application/graphql-response+json, application/json;q=0.9"),
            GRAPHQL_RESPONSE,
        ),
        (
            Some("application/json, application/graphql-response+json;q=0.5"),
            "application/json",
        ),
    ] {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let (status, content_type, response) =
            send(&t, request.body(Body::from(body)).unwrap()).await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with(expected),
            "{accept:?}: {content_type}"
        );
        assert_eq!(response["data"]["__typename"], "Query");
    }
}

#[tokio::test]
async fn parse_and_validation_failures_are_400_without_data_for_the_new_media_type() {
    let t = TestApp::new().await;
    for query in [
        "{ me { id ",
        "{ nosuchfield }",
        "query($m: ID!) { merchant(id: $m) { name } }",
    ] {
        let body = json!({ "query": query }).to_string();
        let request = Request::post("/graphql")
            .header("content-type", "application/json")
            .header("accept", GRAPHQL_RESPONSE)
            .body(Body::from(body.clone()))
            .unwrap();
        let (status, _, response) = send(&t, request).await;
        assert_eq!(status, 400, "{query}: {response}");
        assert_refusal(&response, "INVALID_INPUT");
        // The legacy media type keeps 200, as the spec says, and also has no `data`.
        let (status, _, response) = send(&t, post_body(body)).await;
        assert_eq!(status, 200, "{query}: {response}");
        assert_refusal(&response, "INVALID_INPUT");
    }
    // A field error is still 200 with data.
    let request = Request::post("/graphql")
        .header("content-type", "application/json")
        .header("accept", GRAPHQL_RESPONSE)
        .body(Body::from(r#"{"query":"{ me { id } }"}"#))
        .unwrap();
    let (status, _, response) = send(&t, request).await;
    assert_eq!(status, 200);
    assert_eq!(response["data"], Value::Null);
    assert_eq!(
        response["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn get_runs_queries_but_not_mutations() {
    let t = TestApp::new().await;
    let (token, id) = t.shopper("alice").await;
    let query = "query($x: Boolean!) { me @include(if: $x) { id } t: __typename }";
    let uri = format!(
        "/graphql?query={}&variables={}",
        urlencode(query),
        urlencode(r#"{"x":true}"#)
    );
    let request = Request::get(uri.as_str())
        .header("authorization", format!("Bearer {token}"))
        .header("accept", GRAPHQL_RESPONSE)
        .body(Body::empty())
        .unwrap();
    let (status, content_type, response) = send(&t, request).await;
    assert_eq!(status, 200, "{response}");
    assert!(content_type.starts_with(GRAPHQL_RESPONSE));
    assert_eq!(
        response["data"],
        json!({ "me": { "id": id }, "t": "Query" })
    );

    let mutation = "mutation { loginWithWechat(code: \"bob\") { token } }";
    let request = Request::get(format!("/graphql?query={}", urlencode(mutation)).as_str())
        .body(Body::empty())
        .unwrap();
    let response = tower::ServiceExt::oneshot(t.router.clone(), request)
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert_eq!(t.count("users").await, 1, "the mutation did not run");

    // A browser asking for a page gets GraphiQL in development.
    let request = Request::get("/graphql")
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .body(Body::empty())
        .unwrap();
    let (status, body) = t.request(request).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("graphiql"));
    // A client without a query gets an error, not a page.
    let (status, _, response) =
        send(&t, Request::get("/graphql").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 400);
    assert_refusal(&response, "INVALID_INPUT");
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn production_refuses_introspection_and_suggests_no_names() {
    let t = TestApp::with_config(production).await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Query\") { name fields { name } } }",
        "{ __type(name: \"Query\") { ... on __Type { name } } }",
        "query { ...F } fragment F on Query { __schema { types { name } } }",
    ] {
        let response = t.gql(None, query, json!({})).await;
        assert_refusal(&response, "FORBIDDEN");
        assert!(response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("introspection is off"));
    }
    let response = t
        .gql(None, "{ merchnt(id: \"1\") { name } }", json!({}))
        .await;
    assert_refusal(&response, "INVALID_INPUT");
    let message = response["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    assert!(!message.contains("\"merchant\""), "{message}");
    // Whether a named type exists tells nothing more (the GraphQL-over-HTTP audits ask it).
    let data = t
        .ok(
            None,
            "query($n: String!) { __type(name: $n) { name } }",
            json!({ "n": "Query" }),
        )
        .await;
    assert_eq!(data["__type"]["name"], "Query");
    // `__typename` is not introspection.
    assert_eq!(
        t.ok(None, "{ __typename }", json!({})).await["__typename"],
        "Query"
    );
    // No GraphiQL page either: a browser gets a JSON error.
    let request = Request::get("/graphql")
        .header("accept", "text/html")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = send(&t, request).await;
    assert_eq!(status, 406);
    assert_refusal(&body, "INVALID_INPUT");
}

#[tokio::test]
async fn development_keeps_its_suggestions() {
    let t = TestApp::new().await;
    let response = t
        .gql(None, "{ merchnt(id: \"1\") { name } }", json!({}))
        .await;
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Did you mean"));
}

#[tokio::test]
async fn a_failing_field_is_null_and_a_failing_non_null_field_nulls_its_parent() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Pub").await;
    let (shopper, _) = t.shopper("alice").await;
    let vars = json!({ "m": m.id });

    // queueStats is nullable: it is null and present, its sibling stays.
    let response = t
        .gql(
            Some(&shopper),
            "query($m: ID!) { merchant(id: $m) { name queueStats { waiting } } }",
            vars.clone(),
        )
        .await;
    assert_eq!(
        response["data"],
        json!({ "merchant": { "name": "Pub", "queueStats": null } })
    );
    assert_eq!(
        response["errors"][0]["path"],
        json!(["merchant", "queueStats"])
    );
    assert_eq!(response["errors"].as_array().unwrap().len(), 1);

    // qrCode is non-null in a non-null list: the error climbs to the nullable `merchant`.
    let response = t
        .gql(
            Some(&shopper),
            "query($m: ID!) { merchant(id: $m) { name stores { name qrCode { scene } } } alias: merchant(id: $m) { name } }",
            vars.clone(),
        )
        .await;
    assert_eq!(
        response["data"],
        json!({ "merchant": null, "alias": { "name": "Pub" } })
    );
    assert_eq!(
        response["errors"][0]["path"],
        json!(["merchant", "stores", 0, "qrCode"])
    );
    assert_eq!(response["errors"][0]["extensions"]["code"], "FORBIDDEN");

    // A non-null root field that fails nulls `data` (which is then present, with 200).
    let response = t.gql(None, "{ me { id } }", json!({})).await;
    assert_eq!(
        response,
        json!({ "data": null, "errors": response["errors"].clone() })
    );
    assert_eq!(response["errors"][0]["path"], json!(["me"]));

    // The owner sees everything.
    let data = t
        .ok(
            Some(&m.owner_token),
            "query($m: ID!) { merchant(id: $m) { name queueStats { waiting } stores { qrCode { scene } } } }",
            vars,
        )
        .await;
    assert_eq!(
        data["merchant"]["stores"][0]["qrCode"]["scene"],
        json!(m.store_scene)
    );
}

#[tokio::test]
async fn a_cut_database_is_unavailable_and_retryable() {
    let t = TestApp::new().await;
    let (shopper, _) = t.shopper("alice").await;
    t.app.state.db.clone().close().await.unwrap();
    let response = t
        .gql(
            Some(&shopper),
            "{ me { id memberships { memberCode } } }",
            json!({}),
        )
        .await;
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{response}");
    assert_eq!(error["extensions"]["retryable"], true);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("try again"), "{message}");
    assert!(!message.to_lowercase().contains("pool"), "{message}");
    let response = t
        .gql(
            None,
            "mutation { loginWithWechat(code: \"bob\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "UNAVAILABLE");
}

/// A TCP relay in front of PostgreSQL that a test can cut and restore.
struct Relay {
    port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the relay's port is free");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                links.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            port,
            task: Some(task),
        }
    }

    /// Drops the listener and every relayed connection.
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_for_a_moment_is_unavailable_then_recovers() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        return;
    };
    if !url.starts_with("postgres") || !url.contains("127.0.0.1:5432") {
        return;
    }
    let mut relay = Relay::start(0).await;
    let port = relay.port;
    let t = TestApp::with_config(|c| {
        c.database_url = c
            .database_url
            .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
    })
    .await;
    let (shopper, id) = t.shopper("alice").await;
    relay.cut().await;
    let started = std::time::Instant::now();
    let response = t.gql(Some(&shopper), "{ me { id } }", json!({})).await;
    assert_eq!(error_code(&response), "UNAVAILABLE", "{response}");
    assert_eq!(response["errors"][0]["extensions"]["retryable"], true);
    // The pool gives up on a connection after its acquire timeout (30 s).
    assert!(started.elapsed() < std::time::Duration::from_secs(45));
    // The database is back: the same request succeeds. A pooled connection is checked
    // before use once it has sat idle for `PING_AFTER_IDLE` (one used just before the cut
    // is not, and may fail one request with the retryable error above); by then every
    // connection from before the cut has, and the dead ones are replaced.
    let _relay = Relay::start(port).await;
    tokio::time::sleep(fenhong::db::PING_AFTER_IDLE + std::time::Duration::from_millis(100)).await;
    let data = t.ok(Some(&shopper), "{ me { id } }", json!({})).await;
    assert_eq!(data["me"]["id"], json!(id));
}

/// Log lines written while this test's requests run (the test's runtime is one thread).
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every answer carries its request's id (the client's `x-request-id`, else a new UUID),
/// refusals too, and the request's log lines carry it: how an operator finds a till's
/// failed request in the log.
#[tokio::test]
async fn every_answer_and_log_line_carries_its_request_id() {
    let t = TestApp::new().await;
    let lines = Lines::default();
    let writer = lines.clone();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    let post = |id: Option<&str>| {
        let mut request = Request::post("/graphql").header("content-type", "application/json");
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.body(Body::from(TYPENAME)).unwrap()
    };
    let id_of = |response: &axum::response::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let router = || t.router.clone();
    // Other tests run the same log statements on other threads, with no subscriber: one
    // that first ran there while this subscriber was being set up can be left thinking
    // nobody listens. Once this thread has run them, ask every statement again.
    tower::ServiceExt::oneshot(router(), post(Some("warm-up")))
        .await
        .unwrap();
    tracing::callsite::rebuild_interest_cache();

    let given = tower::ServiceExt::oneshot(router(), post(Some("till-7-0001")))
        .await
        .unwrap();
    assert_eq!(given.status(), 200);
    assert_eq!(id_of(&given), "till-7-0001");

    let first = tower::ServiceExt::oneshot(router(), post(None))
        .await
        .unwrap();
    let second = tower::ServiceExt::oneshot(router(), post(None))
        .await
        .unwrap();
    let (first, second) = (id_of(&first), id_of(&second));
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    assert_ne!(first, second, "each request its own id");

    let refused = tower::ServiceExt::oneshot(
        router(),
        Request::delete("/graphql")
            .header("x-request-id", "till-7-0002")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 405);
    assert_eq!(id_of(&refused), "till-7-0002");
    assert!(refused.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));

    let log = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    for (id, status) in [
        ("till-7-0001", 200),
        (first.as_str(), 200),
        ("till-7-0002", 405),
    ] {
        let line = log
            .lines()
            .find(|l| {
                l.contains(&format!("request_id={id}")) && l.contains("finished processing request")
            })
            .unwrap_or_else(|| panic!("no line for {id} in:\n{log}"));
        assert!(line.contains(&format!("status={status}")), "{line}");
    }
}
