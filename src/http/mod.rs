//! Routes, limits, health checks and request logging.

use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::{
    extract::State,
    http::{header, HeaderMap, Request, StatusCode},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
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
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(app.state.config.max_body_bytes))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
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

async fn graphql_handler(
    State(app): State<Fenhong>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = app
        .state
        .tokens
        .principal_of_bearer(bearer, app.state.clock.now());
    let mut response = app
        .schema
        .execute(request.into_inner().data(principal))
        .await;
    for error in &mut response.errors {
        classify(error);
    }
    response.into()
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers.
async fn readyz(State(app): State<Fenhong>) -> Response {
    let db = &app.state.db;
    let check =
        tokio::time::timeout(Duration::from_secs(3), db.execute_unprepared("SELECT 1")).await;
    let database_ok = matches!(check, Ok(Ok(_)));
    let body = serde_json::json!({
        "database": if database_ok { "ok" } else { "unreachable" },
        "backend": format!("{:?}", db.get_database_backend()).to_lowercase(),
    });
    let status = if database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
