//! GraphQL over HTTP as its specification (and the graphql-http audit suite) defines it:
//! content negotiation, `GET` for queries, status codes, and a JSON body for every failure.

use async_graphql::{
    http::GraphiQLSource,
    parser::types::{ExecutableDocument, OperationType},
    Variables,
};
use std::net::{IpAddr, SocketAddr};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, RawQuery, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{Html, IntoResponse, Response},
    Extension,
};
use serde_json::{json, Map, Value};

use crate::{
    error::{self, AppError},
    graphql::{
        batch,
        context::ClientAddress,
        loaders,
        policy::{is_mutation, selected_operation},
    },
    services::accounts,
    Fenhong,
};

/// The official media type of a GraphQL response.
pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// What the client will read: the spec's own media type, or the legacy `application/json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    GraphqlResponse,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// The client's choice from its `Accept` header: the highest `q` among the types we can
/// send, the first listed on a tie. No header (or `*/*`) is the legacy `application/json`.
/// `None`: nothing acceptable (`406`).
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    if accept.trim().is_empty() {
        return Some(Media::Json);
    }
    let mut best: Option<(f32, Media)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let candidate = match media.as_str() {
            GRAPHQL_RESPONSE_JSON => Media::GraphqlResponse,
            "application/json" | "application/*" | "*/*" => Media::Json,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, candidate));
        }
    }
    best.map(|(_, media)| media)
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

/// A failure before GraphQL ran: a status and a JSON body of one error with its code.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (
        status,
        [(header::CONTENT_TYPE, Media::Json.content_type())],
        body.to_string(),
    )
        .into_response()
}

fn method_not_allowed(allow: &'static str, message: &str) -> Response {
    let mut response = refusal(StatusCode::METHOD_NOT_ALLOWED, "INVALID_INPUT", message);
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn bad_request(message: &str) -> Response {
    refusal(StatusCode::BAD_REQUEST, "INVALID_INPUT", message)
}

/// The parts of a GraphQL-over-HTTP request, from a JSON body or a query string.
struct Params {
    query: String,
    variables: Option<Map<String, Value>>,
    operation_name: Option<String>,
}

impl Params {
    fn from_json(body: Value) -> Result<Self, String> {
        let Value::Object(mut body) = body else {
            return Err(String::from(if body.is_array() {
                "batched requests are not supported: send one request per operation"
            } else {
                "the body must be a JSON object with a `query`"
            }));
        };
        let query = match body.remove("query") {
            Some(Value::String(query)) => query,
            None | Some(Value::Null) => return Err(String::from("the request has no `query`")),
            Some(_) => return Err(String::from("`query` must be a string")),
        };
        let variables = match body.remove("variables") {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(_) => return Err(String::from("`variables` must be an object")),
        };
        let operation_name = match body.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name),
            Some(_) => return Err(String::from("`operationName` must be a string")),
        };
        match body.remove("extensions") {
            None | Some(Value::Null) | Some(Value::Object(_)) => {}
            Some(_) => return Err(String::from("`extensions` must be an object")),
        }
        Ok(Self {
            query,
            variables,
            operation_name,
        })
    }

    fn from_query_string(raw: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| String::from("the query string is not URL-encoded"))?;
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Map::new();
        if let Some(query) = get("query") {
            body.insert("query".into(), Value::String(query));
        }
        for name in ["variables", "extensions"] {
            if let Some(text) = get(name).filter(|t| !t.is_empty()) {
                let value =
                    serde_json::from_str(&text).map_err(|_| format!("`{name}` is not JSON"))?;
                body.insert(name.into(), value);
            }
        }
        if let Some(name) = get("operationName").filter(|n| !n.is_empty()) {
            body.insert("operationName".into(), Value::String(name));
        }
        Self::from_json(Value::Object(body))
    }

    /// The type of the operation that would run; `None` when the document does not parse or
    /// names no such operation (GraphQL reports that itself).
    fn operation_type(&self, document: Option<&ExecutableDocument>) -> Option<OperationType> {
        let operation = selected_operation(document?, self.operation_name.as_deref())?;
        Some(operation.node.ty)
    }
}

fn is_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// `GET` and `POST /graphql`.
pub async fn graphql(
    State(app): State<Fenhong>,
    method: Method,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(raw_query): RawQuery,
    body: Body,
) -> Response {
    let raw_query = raw_query.unwrap_or_default();
    if method == Method::GET
        && accepts_html(&headers)
        && !app.state.config.is_production()
        && !raw_query.contains("query=")
    {
        return graphiql().into_response();
    }
    let Some(media) = negotiate(&headers) else {
        return refusal(
            StatusCode::NOT_ACCEPTABLE,
            "INVALID_INPUT",
            "the response can be application/graphql-response+json or application/json",
        );
    };
    let params = match method {
        Method::GET => Params::from_query_string(&raw_query).map_err(|m| bad_request(&m)),
        Method::POST => read_post(&headers, body, app.state.config.max_body_bytes).await,
        _ => return method_not_allowed("GET, POST", "use GET for queries or POST"),
    };
    let params = match params {
        Ok(params) => params,
        Err(response) => return response,
    };
    // Parsed once here (or found parsed) and handed to async-graphql as it is.
    let document = app.documents.parse(&params.query);
    if method == Method::GET {
        match params.operation_type(document.as_ref()) {
            Some(OperationType::Mutation) => {
                return method_not_allowed("POST", "a mutation must be sent with POST")
            }
            Some(OperationType::Subscription) => {
                return bad_request("subscriptions run over the WebSocket at /graphql/ws")
            }
            _ => {}
        }
    }
    let address = super::client_address(&app, &headers, peer.map(|Extension(info)| info.0));
    execute(&app, &headers, address, params, document, media).await
}

async fn read_post(headers: &HeaderMap, body: Body, limit: usize) -> Result<Params, Response> {
    if !is_json_content_type(headers) {
        return Err(refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_INPUT",
            "send the request as Content-Type: application/json",
        ));
    }
    let bytes: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large(limit))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad_request("the request body is empty"));
    }
    let body: Value =
        serde_json::from_slice(&bytes).map_err(|_| bad_request("the request body is not JSON"))?;
    Params::from_json(body).map_err(|m| bad_request(&m))
}

pub fn too_large(limit: usize) -> Response {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "INVALID_INPUT",
        &format!("the request body is larger than {limit} bytes"),
    )
}

async fn execute(
    app: &Fenhong,
    headers: &HeaderMap,
    address: Option<IpAddr>,
    params: Params,
    document: Option<ExecutableDocument>,
    media: Media,
) -> Response {
    let state = &app.state;
    let config = &state.config;
    let principal = match accounts::authenticate(
        &state.db,
        &state.tokens,
        super::bearer(headers),
        state.clock.now(),
    )
    .await
    {
        Ok((principal, _)) => principal,
        Err(err) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                err.code(),
                &err.to_string(),
            )
        }
    };
    let loaders = loaders::for_request(state.db.clone());
    let mut request = async_graphql::Request::new(params.query)
        .data(principal)
        .data(ClientAddress(address))
        .data(loaders.clone());
    if let Some(variables) = params.variables {
        request = request.variables(Variables::from_json(Value::Object(variables)));
    }
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    // Only a mutation writes live events; waking the relay after every read would have it
    // query the outbox once per request. (The document parsed here is the one executed.)
    let mut mutation = false;
    if let Some(document) = document {
        mutation = is_mutation(&document, request.operation_name.as_deref());
        request.set_parsed_query(document);
    }
    // The execution's future is large (kilobytes): boxed, the futures around it (the
    // timeout, the batcher, this handler's, which axum boxes and moves) are copied small.
    let executed = tokio::time::timeout(
        config.request_timeout,
        batch::drive(loaders, Box::pin(app.schema.execute(request))),
    )
    .await;
    // A mutation may have written live events: let the relay publish them now.
    if mutation {
        state.live.wake();
    }
    let Ok(response) = executed else {
        tracing::warn!(
            timeout_secs = config.request_timeout.as_secs(),
            "request stopped: it ran past the request timeout"
        );
        return execution_failure(
            media,
            AppError::Unavailable(
                "the request took too long and was stopped; try again, or ask for less".into(),
            ),
        );
    };
    let body = error::ResponseBody::new(response, config.is_production());
    let request_error = body.is_request_error();
    let body = body.to_json();
    if body.len() > config.max_response_bytes {
        tracing::warn!(
            bytes = body.len(),
            "response refused: larger than the limit"
        );
        return execution_failure(
            media,
            AppError::invalid(format!(
                "the response would be larger than {} bytes; ask for fewer fields or smaller pages",
                config.max_response_bytes
            )),
        );
    }
    let status = if request_error && media == Media::GraphqlResponse {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response()
}

/// A request that was executing but could not be answered (it ran too long, or its answer
/// is too large): `data` is `null` and one error says why, as when the root field failed.
fn execution_failure(media: Media, err: AppError) -> Response {
    let mut extensions = Map::new();
    extensions.insert("code".into(), Value::from(err.code()));
    if err.retryable() {
        extensions.insert("retryable".into(), Value::Bool(true));
    }
    let body = json!({
        "data": null,
        "errors": [{ "message": err.to_string(), "extensions": extensions }],
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response()
}

fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .finish(),
    )
}
