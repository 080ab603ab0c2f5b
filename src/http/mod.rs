//! Routes, limits, health checks and request logging.

mod console;
mod export;
pub mod graphql;
mod wechatpay;
pub mod ws;

use std::time::{Duration, Instant};

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, Request, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use sea_orm::ConnectionTrait;
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer};
use tracing::Instrument;

use crate::Fenhong;

const REQUEST_ID: &str = "x-request-id";

pub fn router(app: Fenhong) -> Router {
    let max_body_bytes = app.state.config.max_body_bytes;
    Router::new()
        .route("/graphql", any(graphql::graphql))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/export/orders.csv", get(export::orders_csv))
        .route("/export/ledger.csv", get(export::ledger_csv))
        .route("/console", get(console::page))
        .route("/console/", get(console::page))
        .route("/console/join", get(console::page))
        .route("/console/assets/{*file}", get(console::asset))
        .route("/wechatpay/notify/{merchant_id}", post(wechatpay::notify))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn(move |request, next| {
            edge(request, next, max_body_bytes)
        }))
        .with_state(app)
}

/// The edge of every request, as one middleware (each layer of its own cost a boxed future
/// and a pass over the request on every request): the request's id (the client's
/// `x-request-id`, else a new one; returned on the answer), the span every log line of the
/// request carries, a line when it is answered (an error line for a server error), and
/// JSON failures under `/graphql` ([`json_failures`]).
async fn edge(mut request: Request<axum::body::Body>, next: Next, limit: usize) -> Response {
    let id = match request.headers().get(REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = HeaderValue::try_from(uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a header value");
            request.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    };
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or("-"),
        method = %request.method(),
        path = %request.uri().path()
    );
    let started = Instant::now();
    span.in_scope(|| tracing::debug!("started processing request"));
    let mut response = json_failures(request, next, limit)
        .instrument(span.clone())
        .await;
    span.in_scope(|| {
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let status = response.status().as_u16();
        if response.status().is_server_error() {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::info!(status, latency_ms, "finished processing request");
        }
    });
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// Every failure under `/graphql` is a GraphQL-shaped JSON body, whichever layer refused the
/// request (the body limit, a method or a WebSocket upgrade axum would not take): clients
/// read `errors[0].extensions.code`, never a line of plain text.
async fn json_failures(request: Request<axum::body::Body>, next: Next, limit: usize) -> Response {
    let graphql = request.uri().path().starts_with("/graphql");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !graphql || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return graphql::too_large(limit);
    }
    let code = match status {
        StatusCode::INTERNAL_SERVER_ERROR => "INTERNAL",
        StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
        _ => "INVALID_INPUT",
    };
    let mut refused = graphql::refusal(
        status,
        code,
        status
            .canonical_reason()
            .unwrap_or("the request was refused"),
    );
    for name in [
        header::ALLOW,
        header::SEC_WEBSOCKET_VERSION,
        header::UPGRADE,
    ] {
        if let Some(value) = response.headers().get(&name) {
            refused.headers_mut().insert(name, value.clone());
        }
    }
    refused
}

/// The client's address: the last entry of the configured proxy header, else the TCP peer.
fn client_address(
    app: &Fenhong,
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> Option<std::net::IpAddr> {
    match &app.state.config.client_ip_header {
        Some(name) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok()),
        None => peer.map(|p| p.ip()),
    }
}

/// The answer to a request whose handler panicked (the panic hook logged it): `INTERNAL`,
/// as JSON, and the server goes on.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    graphql::refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the live backend: a load balancer polls `/readyz` with a
/// short timeout of its own, and must hear "not ready" from it, not nothing.
const LIVE_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// Ready when the database and the live backend answer; otherwise 503, saying what is down.
async fn readyz(State(app): State<Fenhong>) -> Response {
    let db = &app.state.db;
    let live = &app.state.live.backend;
    let (database, live_check) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(3), db.execute_unprepared("SELECT 1")),
        tokio::time::timeout(LIVE_CHECK_TIMEOUT, live.health()),
    );
    let database_ok = matches!(database, Ok(Ok(_)));
    // Only the backend's own summary ("Redis does not answer"), never its inner errors.
    let live_error = match live_check {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some(format!("no answer within {LIVE_CHECK_TIMEOUT:?}")),
    };
    let mut down = Vec::new();
    if !database_ok {
        down.push("database");
    }
    if live_error.is_some() {
        down.push("live");
    }
    let body = serde_json::json!({
        "database": if database_ok { "ok" } else { "unreachable" },
        "backend": format!("{:?}", db.get_database_backend()).to_lowercase(),
        "live": if live_error.is_none() { "ok" } else { "unreachable" },
        "liveBackend": live.name(),
        "liveError": live_error,
        "down": down,
    });
    let status = if down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
