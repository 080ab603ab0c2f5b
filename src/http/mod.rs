//! Routes, limits, health checks and request logging.

mod export;

use std::time::Duration;

use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::{
    extract::{ws::Message, State, WebSocketUpgrade},
    http::{header, HeaderMap, Request, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use futures::{SinkExt, StreamExt};
use sea_orm::ConnectionTrait;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{error::classify, Fenhong};

const REQUEST_ID: &str = "x-request-id";

pub fn router(app: Fenhong) -> Router {
    let request_id = header::HeaderName::from_static(REQUEST_ID);
    let mut graphql = axum::routing::post(graphql_handler);
    if !app.state.config.is_production() {
        graphql = graphql.get(graphiql);
    }
    Router::new()
        .route("/graphql", graphql)
        .route("/graphql/ws", get(graphql_ws))
        .route("/export/orders.csv", get(export::orders_csv))
        .route("/export/ledger.csv", get(export::ledger_csv))
        .route("/console", get(console))
        .route("/console/", get(console))
        .route("/console/join", get(console))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(app.state.config.max_body_bytes))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(app)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

async fn graphql_handler(
    State(app): State<Fenhong>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let principal = app
        .state
        .tokens
        .principal_of_bearer(bearer(&headers), app.state.clock.now());
    let mut response = app
        .schema
        .execute(request.into_inner().data(principal))
        .await;
    for error in &mut response.errors {
        classify(error);
    }
    // A mutation may have written live events: let the relay publish them now.
    app.state.live.wake();
    response.into()
}

/// Subscriptions over `graphql-transport-ws` (and the older `graphql-ws`). The token comes in
/// `connection_init` as `{"token": "<jwt>"}` (or the `Authorization` header); the connection
/// is closed when it expires. Buffers are small and the write buffer bounded, so many idle
/// sockets cost little and a slow client cannot grow memory without limit.
async fn graphql_ws(
    State(app): State<Fenhong>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header_token = bearer(&headers).map(|v| v.trim_start_matches("Bearer ").trim().to_owned());
    let schema = app.schema.clone();
    let state = app.state.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let (expiry_tx, expiry_rx) = tokio::sync::oneshot::channel();
            let clock = state.clock.clone();
            // The GraphQL side writes into a small bounded channel; one writer forwards it to
            // the socket and sends a WebSocket ping every `ws_keepalive`, so idle subscribers stay
            // connected through proxies and dead peers are noticed.
            let (mut socket_sink, socket_stream) = socket.split();
            let (outgoing, mut queued) = futures::channel::mpsc::channel::<Message>(16);
            let keepalive = state.config.ws_keepalive;
            let writer = async move {
                let mut ping = tokio::time::interval(keepalive);
                ping.tick().await;
                loop {
                    tokio::select! {
                        message = queued.next() => match message {
                            Some(message) => {
                                if socket_sink.send(message).await.is_err() {
                                    break;
                                }
                            }
                            None => break,
                        },
                        _ = ping.tick() => {
                            if socket_sink.send(Message::Ping(Default::default())).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = socket_sink.close().await;
            };
            let connection = GraphQLWebSocket::new_with_pair(outgoing, socket_stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = payload
                        .get("token")
                        .and_then(|t| t.as_str())
                        .map(str::to_owned)
                        .or(header_token)
                        .ok_or_else(|| {
                            async_graphql::Error::new("send {\"token\": \"<jwt>\"} in connection_init")
                        })?;
                    let (principal, expires_at) = state
                        .tokens
                        .verify_with_expiry(&token, state.clock.now())
                        .map_err(|_| async_graphql::Error::new("the token is invalid or expired"))?;
                    let _ = expiry_tx.send(expires_at);
                    let mut data = async_graphql::Data::default();
                    data.insert(principal);
                    Ok(data)
                });
            let expires = async move {
                match expiry_rx.await {
                    Ok(at) => tokio::time::sleep((at - clock.now()).to_std().unwrap_or_default()).await,
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = async { tokio::join!(connection.serve(), writer) } => {}
                _ = expires => tracing::info!("closed a subscription connection: its token expired"),
            }
        })
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

/// The web console: one page, embedded in the binary, that loads nothing from elsewhere.
async fn console() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
            ),
        ],
        include_str!("console.html"),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database and the live backend answer.
async fn readyz(State(app): State<Fenhong>) -> Response {
    let db = &app.state.db;
    let check =
        tokio::time::timeout(Duration::from_secs(3), db.execute_unprepared("SELECT 1")).await;
    let database_ok = matches!(check, Ok(Ok(_)));
    let live = &app.state.live.backend;
    let live_ok = matches!(
        tokio::time::timeout(Duration::from_secs(3), live.health()).await,
        Ok(Ok(()))
    );
    let body = serde_json::json!({
        "database": if database_ok { "ok" } else { "unreachable" },
        "backend": format!("{:?}", db.get_database_backend()).to_lowercase(),
        "live": if live_ok { "ok" } else { "unreachable" },
        "liveBackend": live.name(),
    });
    let status = if database_ok && live_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
