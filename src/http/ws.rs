//! Subscriptions over `graphql-transport-ws`, as its specification says
//! (github.com/enisdenjo/graphql-ws, PROTOCOL.md), with the close codes clients rely on.
//!
//! The token comes in `connection_init` as `{"token": "<jwt>"}` (or the upgrade request's
//! `Authorization` header); the connection is closed when it expires. Buffers are small and
//! the write buffer bounded, so many idle sockets cost little and a slow client cannot grow
//! memory without limit.

use std::collections::HashMap;

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket},
        State, WebSocketUpgrade,
    },
    http::HeaderMap,
    response::Response,
};
use futures::{channel::mpsc, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{auth::Principal, error, graphql::policy::is_mutation, services::accounts, Fenhong};

pub const PROTOCOL: &str = "graphql-transport-ws";

/// The close codes of the protocol.
mod close {
    pub const INVALID_MESSAGE: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    /// WebSocket "internal error": the server could not check the login just now.
    pub const INTERNAL_ERROR: u16 = 1011;
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {
        #[serde(default)]
        #[allow(dead_code)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribePayload {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    extensions: Option<Map<String, Value>>,
}

/// `GET /graphql/ws`.
pub async fn graphql_ws(
    State(app): State<Fenhong>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header_token = super::bearer(&headers)
        .map(|v| v.trim_start_matches("Bearer ").trim().to_owned())
        .filter(|t| !t.is_empty());
    let upgrade = upgrade
        .protocols([PROTOCOL])
        .read_buffer_size(1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(256 * 1024)
        .max_message_size(64 * 1024);
    let speaks_protocol = upgrade.selected_protocol().is_some();
    upgrade.on_upgrade(move |socket| async move {
        let live_runtime = app.live_runtime.clone();
        let connection = async move {
            if speaks_protocol {
                Connection::new(app, header_token).serve(socket).await
            } else {
                let mut socket = socket;
                let _ = socket
                    .send(close_frame(
                        close::SUBPROTOCOL_NOT_ACCEPTABLE,
                        "Subprotocol not acceptable",
                    ))
                    .await;
            }
        };
        // On the live threads when the server has them (its tasks, the writer and each
        // subscription's, are spawned there too).
        match live_runtime {
            Some(runtime) => drop(runtime.spawn(connection)),
            None => connection.await,
        }
    })
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Why the server ends a connection.
struct Closing(u16, String);

struct Connection {
    app: Fenhong,
    header_token: Option<String>,
    initialised: bool,
    /// After `connection_init`: the caller, its credential (checked again at every
    /// `subscribe`, so a revoked login stops there) and when its token expires.
    principal: Option<(Principal, String, Option<chrono::DateTime<chrono::Utc>>)>,
    subscriptions: HashMap<String, tokio::task::AbortHandle>,
}

impl Connection {
    fn new(app: Fenhong, header_token: Option<String>) -> Self {
        Self {
            app,
            header_token,
            initialised: false,
            principal: None,
            subscriptions: HashMap::new(),
        }
    }

    async fn serve(mut self, socket: WebSocket) {
        let config = &self.app.state.config;
        let (keepalive, init_timeout) = (config.ws_keepalive, config.ws_init_timeout);
        // Everything written goes through one small bounded channel; one writer forwards it
        // to the socket and sends a WebSocket ping every `ws_keepalive`, so idle subscribers
        // stay connected through proxies and dead peers are noticed.
        let (mut sink, mut incoming) = socket.split();
        let (outgoing, mut queued) = mpsc::channel::<Message>(16);
        let writer = tokio::spawn(async move {
            let mut ping = tokio::time::interval(keepalive);
            ping.tick().await;
            loop {
                tokio::select! {
                    message = queued.next() => match message {
                        Some(message) => {
                            let last = matches!(message, Message::Close(_));
                            if sink.send(message).await.is_err() || last {
                                break;
                            }
                        }
                        None => break,
                    },
                    _ = ping.tick() => {
                        if sink.send(Message::Ping(Default::default())).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
        });
        let (finished_tx, mut finished) = mpsc::unbounded::<String>();
        let init_deadline = tokio::time::sleep(init_timeout);
        tokio::pin!(init_deadline);
        let mut out = outgoing.clone();
        let closing = loop {
            let expiry = self
                .principal
                .as_ref()
                .and_then(|(_, _, expires_at)| *expires_at)
                .map(|expires_at| {
                    (expires_at - self.app.state.clock.now())
                        .to_std()
                        .unwrap_or_default()
                });
            tokio::select! {
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(body))) => {
                        // Operations that ended before this message free their ids first.
                        while let Ok(id) = finished.try_recv() {
                            self.subscriptions.remove(&id);
                        }
                        // Boxed: what a message needs while it is handled (a login check
                        // among it) would otherwise be held by every idle connection.
                        match Box::pin(self.on_message(&body, &mut out, &finished_tx)).await {
                            Ok(()) => {}
                            Err(closing) => break Some(closing),
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        break Some(Closing(close::INVALID_MESSAGE, "Invalid message received".into()))
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
                },
                Some(id) = finished.next() => {
                    self.subscriptions.remove(&id);
                }
                _ = &mut init_deadline, if !self.initialised => {
                    break Some(Closing(close::INIT_TIMEOUT, "Connection initialisation timeout".into()));
                }
                _ = tokio::time::sleep(expiry.unwrap_or_default()), if expiry.is_some() => {
                    tracing::info!("closed a subscription connection: its token expired");
                    break Some(Closing(close::FORBIDDEN, "Forbidden: the token expired".into()));
                }
            }
        };
        for (_, task) in self.subscriptions.drain() {
            task.abort();
        }
        if let Some(Closing(code, reason)) = closing {
            let _ = out.send(close_frame(code, &reason)).await;
        }
        drop(out);
        drop(outgoing);
        let _ = writer.await;
    }

    /// The caller of a credential, or the close that refuses it.
    async fn authenticate(
        &self,
        token: &str,
    ) -> Result<(Principal, Option<chrono::DateTime<chrono::Utc>>), Closing> {
        let state = &self.app.state;
        match accounts::authenticate(&state.db, &state.tokens, Some(token), state.clock.now()).await
        {
            Ok((Principal::Rejected(why), _)) => Err(Closing(
                close::FORBIDDEN,
                format!("Forbidden: {}", why.message()),
            )),
            Ok(caller) => Ok(caller),
            Err(err) => {
                tracing::warn!(error = %err, "could not check a subscription's login");
                Err(Closing(
                    close::INTERNAL_ERROR,
                    "The service is briefly unavailable".into(),
                ))
            }
        }
    }

    async fn on_message(
        &mut self,
        body: &str,
        out: &mut mpsc::Sender<Message>,
        finished: &mpsc::UnboundedSender<String>,
    ) -> Result<(), Closing> {
        let message: ClientMessage = serde_json::from_str(body)
            .map_err(|_| Closing(close::INVALID_MESSAGE, "Invalid message received".into()))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.initialised {
                    return Err(Closing(
                        close::TOO_MANY_INITS,
                        "Too many initialisation requests".into(),
                    ));
                }
                self.initialised = true;
                let token = payload
                    .as_ref()
                    .and_then(|p| p.get("token"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| self.header_token.clone());
                let Some(token) = token else {
                    return Err(Closing(
                        close::FORBIDDEN,
                        "Forbidden: send {\"token\": \"<jwt>\"} in connection_init".into(),
                    ));
                };
                let (principal, expires_at) = self.authenticate(&token).await?;
                self.principal = Some((principal, token, expires_at));
                let _ = out.send(text(json!({ "type": "connection_ack" }))).await;
            }
            ClientMessage::Ping { payload } => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                let _ = out.send(text(pong)).await;
            }
            ClientMessage::Pong { .. } => {}
            ClientMessage::Subscribe { id, payload } => {
                let Some((_, token, _)) = &self.principal else {
                    return Err(Closing(close::UNAUTHORIZED, "Unauthorized".into()));
                };
                let (principal, _) = self.authenticate(&token.clone()).await?;
                if self.subscriptions.contains_key(&id) {
                    let mut reason = format!("Subscriber for {id} already exists");
                    reason.truncate(120);
                    return Err(Closing(close::SUBSCRIBER_EXISTS, reason));
                }
                let limit = self.app.state.config.ws_max_subscriptions;
                if self.subscriptions.len() >= limit {
                    let error = json!([{
                        "message": format!("at most {limit} subscriptions per connection"),
                        "extensions": { "code": "RATE_LIMITED" },
                    }]);
                    let _ = out
                        .send(text(json!({ "id": id, "type": "error", "payload": error })))
                        .await;
                    return Ok(());
                }
                let task = tokio::spawn(run_operation(
                    self.app.clone(),
                    principal,
                    id.clone(),
                    payload,
                    out.clone(),
                    finished.clone(),
                ));
                self.subscriptions.insert(id, task.abort_handle());
            }
            ClientMessage::Complete { id } => {
                if let Some(task) = self.subscriptions.remove(&id) {
                    task.abort();
                }
            }
        }
        Ok(())
    }
}

/// Runs one operation: `next` for each result and `complete` at its end, or one `error`
/// when the document does not parse or validate.
async fn run_operation(
    app: Fenhong,
    principal: Principal,
    id: String,
    payload: SubscribePayload,
    mut out: mpsc::Sender<Message>,
    finished: mpsc::UnboundedSender<String>,
) {
    let mut request = async_graphql::Request::new(payload.query).data(principal);
    if let Some(variables) = payload.variables {
        request = request.variables(async_graphql::Variables::from_json(Value::Object(
            variables,
        )));
    }
    if let Some(name) = payload.operation_name {
        request = request.operation_name(name);
    }
    let mut mutation = false;
    if let Some(document) = app.documents.parse(&request.query) {
        mutation = is_mutation(&document, request.operation_name.as_deref());
        request.set_parsed_query(document);
    }
    let production = app.state.config.is_production();
    // Each message is written straight from the executor's values (the id as a JSON string),
    // with no JSON tree in between: this runs once per subscriber for every update.
    let quoted = Value::from(id.as_str()).to_string();
    let mut stream = app.schema.execute_stream(request);
    let mut first = true;
    let mut last = format!(r#"{{"id":{quoted},"type":"complete"}}"#);
    while let Some(response) = stream.next().await {
        // A mutation may have written live events: let the relay publish them now. (Only
        // a mutation: waking it for every update of every subscription would have it read
        // the outbox all through a fan-out.)
        if mutation {
            app.state.live.wake();
        }
        let body = error::ResponseBody::new(response, production);
        if first && body.is_request_error() {
            last = format!(
                r#"{{"id":{quoted},"type":"error","payload":{}}}"#,
                body.errors_json()
            );
            break;
        }
        first = false;
        let next = format!(
            r#"{{"id":{quoted},"type":"next","payload":{}}}"#,
            body.to_json()
        );
        if out.send(Message::Text(next.into())).await.is_err() {
            return;
        }
    }
    // The id is free again once the client hears that the operation ended.
    let _ = finished.unbounded_send(id);
    let _ = out.send(Message::Text(last.into())).await;
}
