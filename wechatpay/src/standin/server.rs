//! A stand-in of WeChat's server API for mini-programs (`api.weixin.qq.com`), for tests.
//!
//! Served, answering HTTP 200 with WeChat's JSON (`errcode`/`errmsg`) as the real host does:
//!
//! - `POST /cgi-bin/stable_token` (getStableAccessToken): body `{grant_type: "client_credential",
//!   appid, secret, force_refresh?}` → `{access_token, expires_in: 7200}`. The same token until
//!   `force_refresh: true` (the old one then answers 40001) or [`ServerStandIn::expire_token`]
//!   (the old one then answers 42001, and the next call hands out a new one). Errors: 47001
//!   `data format error` (body not JSON), 40002 `invalid grant_type`, 41002 `appid missing`,
//!   40013 `invalid appid`, 41004 `appsecret missing`, 40125 `invalid appsecret`.
//! - `POST /cgi-bin/message/subscribe/send?access_token=…` (subscribeMessage.send): body
//!   `{touser, template_id, page?, data, miniprogram_state?, lang?}`. Checked in this order:
//!   41001 `access_token missing`; 42001 `access_token expired` (a token that
//!   [`ServerStandIn::expire_token`] expired); 40001 `invalid credential, access_token is invalid
//!   or not latest` (any other unknown token); -1 `system error` (queued by
//!   [`ServerStandIn::fail_sends`]); 47001 `data format error` (body not a JSON object);
//!   40003 `invalid openid` (touser empty or missing); 40037 `invalid template_id`;
//!   47003 `argument invalid! …` (data, miniprogram_state, lang); 43101 `user refuse to accept
//!   the msg` (no grant left). Success consumes one grant and answers
//!   `{errcode: 0, errmsg: "ok", msgid}`.
//! - `GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code` (code2Session)
//!   → `{openid: "o-<code>", session_key, unionid: "u-<code>"}`; the session key is derived from
//!   the code, so one code always gives the same answer (the stand-in does not enforce one-use
//!   codes). Errors: 40013 / 40125 (appid / secret), 40002 (grant_type), 41008 `missing code`,
//!   40029 `invalid code` for the code `invalid`.
//!
//! Real errmsgs carry a trailing ` rid: …` request id; the stand-in's do not.
//!
//! # `data` values (47003)
//!
//! Each key of the template must be present as `{"value": "<string>"}` and no other key may be.
//! A missing key or an empty value answers `argument invalid! data.<key>.value is empty`; a value
//! that is not a string, breaks its type's rule or an extra key answers
//! `argument invalid! data.<key>.value invalid` (`data.<key> invalid` for an extra key, or one
//! that is not an object with `value`). The type is the key's letters before its digits
//! (`thing1` → `thing`); lengths count characters (a Chinese character is one). The rules, from
//! WeChat's 订阅消息参数值内容限制说明 table:
//!
//! | type | accepts |
//! |---|---|
//! | `thing` | 1–20 characters of any kind |
//! | `number` | 1–32 ASCII digits, optionally one `.` between digits (e.g. `3.5`) |
//! | `letter` | 1–32 ASCII letters |
//! | `symbol` | 1–5 characters, none a letter, digit, CJK character or whitespace |
//! | `character_string` | 1–32 ASCII letters, digits or punctuation (no spaces, no Chinese) |
//! | `time` | a 24-hour time `H:MM` or `H:MM:SS`, optionally preceded by a date and a space; or a range `A~B` of two such |
//! | `date` | a date `YYYY-MM-DD`, `YYYY/MM/DD` or `YYYY年M月D日` (a real calendar date), optionally followed by a space and a time as above; or a range `A~B` |
//! | `amount` | an optional currency sign (`¥`, `￥`, `$`), 1–10 digits, optionally `.` and 1–2 digits, optionally a final `元` |
//! | `phone_number` | 1–17 characters of digits and `+ - ( ) space` |
//! | `car_number` | 2–8 characters; the first and the last may be Chinese, the rest ASCII letters or digits |
//! | `name` | with any Chinese character: 1–10 characters of Chinese, ASCII letters, `·` or space; otherwise 1–20 characters with no digits |
//! | `phrase` | 1–5 Chinese characters only |
//!
//! `miniprogram_state` must be `developer`, `trial` or `formal` and `lang` one of `zh_CN`,
//! `en_US`, `zh_HK`, `zh_TW` when given; otherwise 47003
//! `argument invalid! miniprogram_state invalid` (or `lang invalid`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::alphanumerics;

/// The field types of subscribe-message templates (订阅消息参数类别) the stand-in checks.
pub const FIELD_TYPES: [&str; 12] = [
    "thing",
    "amount",
    "time",
    "date",
    "phrase",
    "number",
    "character_string",
    "letter",
    "symbol",
    "name",
    "phone_number",
    "car_number",
];

/// A subscribe message the stand-in delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The recipient's openid.
    pub touser: String,
    /// The template.
    pub template_id: String,
    /// The page the card opens, if any.
    pub page: Option<String>,
    /// `data` as received, e.g. `{"thing1": {"value": "…"}}`.
    pub data: Value,
    /// `developer`, `trial` or `formal`, if given.
    pub miniprogram_state: Option<String>,
    /// `zh_CN`, `en_US`, `zh_HK` or `zh_TW`, if given.
    pub lang: Option<String>,
}

/// A handle on a running stand-in of WeChat's server API; clones share it. The server lives as
/// long as the Tokio runtime that started it.
#[derive(Clone)]
pub struct ServerStandIn {
    inner: Arc<Inner>,
}

struct Inner {
    appid: String,
    secret: String,
    base_url: String,
    state: Mutex<ServerState>,
}

#[derive(Default)]
struct ServerState {
    token: Option<String>,
    /// Tokens replaced by `force_refresh` (40001 from then on).
    expired: HashSet<String>,
    /// template id → its keys.
    templates: HashMap<String, Vec<String>>,
    /// (openid, template id) → messages still allowed.
    grants: HashMap<(String, String), u32>,
    sent: Vec<SentMessage>,
    failing_sends: u32,
    token_requests: u32,
    forced_refreshes: u32,
    next_msgid: u64,
}

impl ServerStandIn {
    /// Starts the server on `127.0.0.1` at a free port, knowing the mini-program `appid` and
    /// its `secret` (AppSecret).
    pub async fn start(appid: &str, secret: &str) -> ServerStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("server stand-in: bind 127.0.0.1:0");
        let address = listener
            .local_addr()
            .expect("server stand-in: local address");
        let standin = ServerStandIn {
            inner: Arc::new(Inner {
                appid: appid.into(),
                secret: secret.into(),
                base_url: format!("http://{address}"),
                state: Mutex::new(ServerState {
                    next_msgid: 2_900_000_000_000_001,
                    ..ServerState::default()
                }),
            }),
        };
        let app = Router::new()
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
            .route("/sns/jscode2session", get(jscode2session))
            .with_state(standin.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("server stand-in server")
        });
        standin
    }

    /// Where to send requests instead of `https://api.weixin.qq.com`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// Makes `template_id` known with its data keys, e.g. `&["thing1", "amount2", "time3"]`.
    /// The type of a key is its letters before its digits, one of [`FIELD_TYPES`]; panics on
    /// another.
    pub fn add_template(&self, template_id: &str, keys: &[&str]) {
        for key in keys {
            assert!(
                FIELD_TYPES.contains(&field_type(key)),
                "server stand-in: {key} is not of a known type ({FIELD_TYPES:?})"
            );
        }
        self.state().templates.insert(
            template_id.into(),
            keys.iter().map(|k| (*k).to_string()).collect(),
        );
    }

    /// The shopper `openid` accepted `template_id` `n` more times (one-time subscriptions: each
    /// accept allows one message).
    pub fn grant(&self, openid: &str, template_id: &str, n: u32) {
        *self
            .state()
            .grants
            .entry((openid.into(), template_id.into()))
            .or_default() += n;
    }

    /// Messages delivered so far, oldest first.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.state().sent.clone()
    }

    /// The next `n` send calls answer `{errcode: -1, errmsg: "system error"}` whatever they
    /// carry, and deliver nothing.
    pub fn fail_sends(&self, n: u32) {
        self.state().failing_sends += n;
    }

    /// The current access token expires: sends with it answer 42001 `access_token expired`, and
    /// the next `stable_token` call hands out a new one.
    pub fn expire_token(&self) {
        let mut state = self.state();
        if let Some(token) = state.token.take() {
            state.expired.insert(token);
        }
    }

    /// How many `stable_token` calls were received (failed ones included), and how many of them
    /// had `force_refresh: true`.
    pub fn token_requests(&self) -> (u32, u32) {
        let state = self.state();
        (state.token_requests, state.forced_refreshes)
    }

    fn state(&self) -> MutexGuard<'_, ServerState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn err(errcode: i64, errmsg: impl Into<String>) -> Json<Value> {
    Json(json!({ "errcode": errcode, "errmsg": errmsg.into() }))
}

fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The checks of appid and secret that every credentialed endpoint shares.
fn check_app(standin: &ServerStandIn, appid: &str, secret: &str) -> Result<(), Json<Value>> {
    if appid.is_empty() {
        return Err(err(41002, "appid missing"));
    }
    if appid != standin.inner.appid {
        return Err(err(40013, "invalid appid"));
    }
    if secret.is_empty() {
        return Err(err(41004, "appsecret missing"));
    }
    if secret != standin.inner.secret {
        return Err(err(40125, "invalid appsecret"));
    }
    Ok(())
}

async fn stable_token(State(standin): State<ServerStandIn>, body: Bytes) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let force = body.get("force_refresh").and_then(Value::as_bool) == Some(true);
    {
        let mut state = standin.state();
        state.token_requests += 1;
        state.forced_refreshes += u32::from(force);
    }
    if !body.is_object() {
        return err(47001, "data format error");
    }
    if str_field(&body, "grant_type") != "client_credential" {
        return err(40002, "invalid grant_type");
    }
    if let Err(answer) = check_app(
        &standin,
        str_field(&body, "appid"),
        str_field(&body, "secret"),
    ) {
        return answer;
    }
    let mut state = standin.state();
    if force {
        // The replaced token is no longer the latest: 40001 from now on.
        state.token = None;
    }
    let token = state
        .token
        .get_or_insert_with(|| format!("99_{}", alphanumerics(136)))
        .clone();
    Json(json!({ "access_token": token, "expires_in": 7200 }))
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

async fn subscribe_send(
    State(standin): State<ServerStandIn>,
    Query(query): Query<TokenQuery>,
    body: Bytes,
) -> Json<Value> {
    let mut state = standin.state();
    let token = query.access_token.unwrap_or_default();
    if token.is_empty() {
        return err(41001, "access_token missing");
    }
    if state.token.as_deref() != Some(token.as_str()) {
        if state.expired.contains(&token) {
            return err(42001, "access_token expired");
        }
        return err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    if state.failing_sends > 0 {
        state.failing_sends -= 1;
        return err(-1, "system error");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if !body.is_object() {
        return err(47001, "data format error");
    }
    let touser = str_field(&body, "touser");
    if touser.is_empty() {
        return err(40003, "invalid openid");
    }
    let template_id = str_field(&body, "template_id");
    let Some(keys) = state.templates.get(template_id) else {
        return err(40037, "invalid template_id");
    };
    let data = body.get("data").cloned().unwrap_or(Value::Null);
    if let Err(message) = check_data(keys, &data) {
        return err(47003, format!("argument invalid! {message}"));
    }
    let optional = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let miniprogram_state = optional("miniprogram_state");
    if let Some(s) = &miniprogram_state {
        if !matches!(s.as_str(), "developer" | "trial" | "formal") {
            return err(47003, "argument invalid! miniprogram_state invalid");
        }
    }
    let lang = optional("lang");
    if let Some(l) = &lang {
        if !matches!(l.as_str(), "zh_CN" | "en_US" | "zh_HK" | "zh_TW") {
            return err(47003, "argument invalid! lang invalid");
        }
    }
    let grant_key = (touser.to_string(), template_id.to_string());
    match state.grants.get_mut(&grant_key) {
        Some(left) if *left > 0 => *left -= 1,
        _ => return err(43101, "user refuse to accept the msg"),
    }
    let message = SentMessage {
        touser: touser.into(),
        template_id: template_id.into(),
        page: optional("page"),
        data,
        miniprogram_state,
        lang,
    };
    state.sent.push(message);
    let msgid = state.next_msgid;
    state.next_msgid += 1;
    Json(json!({ "errcode": 0, "errmsg": "ok", "msgid": msgid }))
}

#[derive(Deserialize)]
struct SessionQuery {
    appid: Option<String>,
    secret: Option<String>,
    js_code: Option<String>,
    grant_type: Option<String>,
}

async fn jscode2session(
    State(standin): State<ServerStandIn>,
    Query(query): Query<SessionQuery>,
) -> Json<Value> {
    if let Err(answer) = check_app(
        &standin,
        query.appid.as_deref().unwrap_or_default(),
        query.secret.as_deref().unwrap_or_default(),
    ) {
        return answer;
    }
    if query.grant_type.as_deref() != Some("authorization_code") {
        return err(40002, "invalid grant_type");
    }
    let code = query.js_code.unwrap_or_default();
    if code.is_empty() {
        return err(41008, "missing code");
    }
    if code == "invalid" {
        return err(40029, "invalid code");
    }
    let digest = Sha256::digest(format!("session_key:{code}").as_bytes());
    let session_key = base64::engine::general_purpose::STANDARD.encode(&digest[..16]);
    Json(json!({
        "openid": format!("o-{code}"),
        "session_key": session_key,
        "unionid": format!("u-{code}"),
    }))
}

/// The type of a data key: its letters before its digits (`character_string12` →
/// `character_string`).
fn field_type(key: &str) -> &str {
    key.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// Checks `data` against the template's keys; the error is WeChat's errmsg after
/// `argument invalid! `.
fn check_data(keys: &[String], data: &Value) -> Result<(), String> {
    let empty = serde_json::Map::new();
    let fields = match data {
        Value::Object(fields) => fields,
        Value::Null => &empty,
        _ => return Err("data invalid".into()),
    };
    for key in keys {
        let value = match fields.get(key) {
            None => return Err(format!("data.{key}.value is empty")),
            Some(Value::Object(field)) => field.get("value"),
            Some(_) => return Err(format!("data.{key} invalid")),
        };
        match value {
            None | Some(Value::Null) => return Err(format!("data.{key}.value is empty")),
            Some(Value::String(s)) if s.is_empty() => {
                return Err(format!("data.{key}.value is empty"))
            }
            Some(Value::String(s)) if value_ok(field_type(key), s) => {}
            Some(_) => return Err(format!("data.{key}.value invalid")),
        }
    }
    if let Some(extra) = fields.keys().find(|k| !keys.contains(k)) {
        return Err(format!("data.{extra} invalid"));
    }
    Ok(())
}

/// Whether a non-empty `value` satisfies the rule of its field type (see the module docs).
fn value_ok(field_type: &str, value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    match field_type {
        "thing" => n <= 20,
        "number" => is_number(value, 32),
        "letter" => n <= 32 && chars.iter().all(char::is_ascii_alphabetic),
        "symbol" => {
            n <= 5
                && chars
                    .iter()
                    .all(|&c| !c.is_alphanumeric() && !c.is_whitespace() && !is_chinese(c))
        }
        "character_string" => n <= 32 && chars.iter().all(char::is_ascii_graphic),
        "time" => range_ok(value, |s| is_time(s) || date_then_time(s)),
        "date" => range_ok(value, |s| is_date(s) || date_then_time(s)),
        "amount" => is_amount(value),
        "phone_number" => {
            n <= 17
                && chars
                    .iter()
                    .all(|&c| c.is_ascii_digit() || "+-() ".contains(c))
        }
        "car_number" => {
            (2..=8).contains(&n)
                && chars.iter().enumerate().all(|(i, &c)| {
                    c.is_ascii_alphanumeric() || ((i == 0 || i == n - 1) && is_chinese(c))
                })
        }
        "name" => {
            if chars.iter().any(|&c| is_chinese(c)) {
                n <= 10
                    && chars
                        .iter()
                        .all(|&c| is_chinese(c) || c.is_ascii_alphabetic() || c == '·' || c == ' ')
            } else {
                n <= 20 && chars.iter().all(|&c| !c.is_numeric() && !c.is_control())
            }
        }
        "phrase" => n <= 5 && chars.iter().all(|&c| is_chinese(c)),
        _ => false,
    }
}

fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' | '\u{20000}'..='\u{2A6DF}')
}

/// Digits with at most one `.` between digits, at most `max_digits` digits in all.
fn is_number(s: &str, max_digits: usize) -> bool {
    let (int, frac) = s.split_once('.').unwrap_or((s, "1"));
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    all_digits(int)
        && all_digits(frac)
        && s.bytes().filter(u8::is_ascii_digit).count() <= max_digits
}

fn is_amount(s: &str) -> bool {
    let s = s.strip_prefix(['¥', '￥', '$']).unwrap_or(s);
    let s = s.strip_suffix('元').unwrap_or(s);
    let (int, frac) = s.split_once('.').unwrap_or((s, "0"));
    (1..=10).contains(&int.len())
        && int.bytes().all(|b| b.is_ascii_digit())
        && (1..=2).contains(&frac.len())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// `s`, or `a~b` with both sides accepted.
fn range_ok(s: &str, one: impl Fn(&str) -> bool) -> bool {
    match s.split_once('~') {
        Some((a, b)) => one(a.trim()) && one(b.trim()),
        None => one(s),
    }
}

/// `H:MM` or `H:MM:SS`, 24-hour.
fn is_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |p: &str, len: std::ops::RangeInclusive<usize>, max: u32| {
        len.contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|v| v <= max)
    };
    matches!(parts.len(), 2 | 3)
        && num(parts[0], 1..=2, 23)
        && parts[1..].iter().all(|p| num(p, 2..=2, 59))
}

/// `YYYY-MM-DD`, `YYYY/MM/DD` or `YYYY年M月D日`, a real calendar date.
fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = if let Some(rest) = s.strip_suffix('日') {
        rest.split(['年', '月']).collect()
    } else if s.contains('-') {
        s.split('-').collect()
    } else {
        s.split('/').collect()
    };
    let [y, m, d] = parts[..] else {
        return false;
    };
    let num = |p: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if !(num(y, 4..=4) && num(m, 1..=2) && num(d, 1..=2)) {
        return false;
    }
    match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d).is_some(),
        _ => false,
    }
}

/// A date, a space and a time.
fn date_then_time(s: &str) -> bool {
    match s.split_once(' ') {
        Some((date, time)) => is_date(date) && is_time(time.trim_start()),
        None => false,
    }
}
