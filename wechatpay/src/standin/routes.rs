//! The stand-in's HTTP side: one gate that checks and records every request and signs every
//! answer, and a handler per endpoint with WeChat's validation and error codes.

use std::collections::HashMap;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{beijing_now, digits, hex, now_secs, Order, RecordedRequest, StandIn, RFC3339};
use crate::model::{ApiError, Payer, Refund, RefundAmount, Transaction, TransactionAmount};
use crate::{
    parse_authorization, request_message, response_message, sign, verify, within_clock_skew,
};

pub(super) fn router(standin: StandIn) -> Router {
    Router::new()
        .route("/v3/pay/transactions/jsapi", post(jsapi))
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}",
            get(query_order),
        )
        .route(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}/close",
            post(close_order),
        )
        .route("/v3/refund/domestic/refunds", post(create_refund))
        .route(
            "/v3/refund/domestic/refunds/{out_refund_no}",
            get(query_refund),
        )
        .fallback(|| async { WxError::new(404, "NOT_FOUND", "请求的资源不存在") })
        .layer(middleware::from_fn_with_state(standin.clone(), gate))
        .with_state(standin)
}

/// A WeChat error answer: HTTP status and `{"code","message"}`.
struct WxError {
    status: u16,
    code: &'static str,
    message: String,
}

impl WxError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        WxError {
            status,
            code,
            message: message.into(),
        }
    }
}

fn param_error(message: impl Into<String>) -> WxError {
    WxError::new(400, "PARAM_ERROR", message)
}

fn invalid_request(message: impl Into<String>) -> WxError {
    WxError::new(400, "INVALID_REQUEST", message)
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.message)
    }
}

fn error_response(status: u16, code: &str, message: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ApiError {
        code: code.into(),
        message,
        detail: None,
    };
    (status, Json(body)).into_response()
}

type Answer = Result<Response, WxError>;

/// Records the request, checks its `Authorization` (401 `SIGN_ERROR` otherwise), fires a queued
/// failure or runs the handler, and signs whatever is answered.
async fn gate(State(standin): State<StandIn>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let authorization = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let url = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let checked =
        standin.check_authorization(parts.method.as_str(), url, authorization.as_deref(), &body);
    let path = parts.uri.path().to_owned();
    standin.state().requests.push(RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().map(str::to_owned),
        body,
        authorization,
        signature_valid: checked.is_ok(),
    });
    let response = match checked {
        Err(why) => error_response(401, "SIGN_ERROR", why),
        Ok(()) => match standin.take_failure(&path) {
            Some((status, code)) => {
                let message = if code == "SYSTEM_ERROR" {
                    "系统错误".to_owned()
                } else {
                    code.clone()
                };
                error_response(status, &code, message)
            }
            None => {
                next.run(Request::from_parts(parts, Body::from(bytes)))
                    .await
            }
        },
    };
    standin.sign_response(response).await
}

impl StandIn {
    fn check_authorization(
        &self,
        method: &str,
        url: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> Result<(), String> {
        let config = self.config();
        let header = authorization.ok_or("缺少Authorization请求头")?;
        let auth =
            parse_authorization(header).map_err(|e| format!("Authorization请求头格式错误: {e}"))?;
        if auth.mchid != config.mchid {
            return Err(format!("商户号{}与签名不匹配", auth.mchid));
        }
        if auth.serial_no != config.merchant_serial_no {
            return Err(format!("商户证书序列号{}有误", auth.serial_no));
        }
        if !within_clock_skew(auth.timestamp, now_secs()) {
            return Err("签名中的时间戳已过期".into());
        }
        let message = request_message(method, url, auth.timestamp, &auth.nonce, body);
        verify(&config.merchant_public_key, &message, &auth.signature)
            .map_err(|_| "错误的签名，验签失败".to_owned())
    }

    fn take_failure(&self, path: &str) -> Option<(u16, String)> {
        let mut state = self.state();
        let index = state
            .failures
            .iter()
            .position(|f| path.starts_with(&f.path_prefix))?;
        let failure = state.failures.remove(index);
        Some((failure.status, failure.code))
    }

    async fn sign_response(&self, response: Response) -> Response {
        let (mut parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
        let (timestamp, nonce) = (now_secs(), hex(32));
        let message = response_message(timestamp, &nonce, &String::from_utf8_lossy(&bytes));
        let signature = sign(&self.inner.platform_key, &message);
        let headers = [
            (crate::HEADER_TIMESTAMP, timestamp.to_string()),
            (crate::HEADER_NONCE, nonce),
            (crate::HEADER_SIGNATURE, signature),
            (
                crate::HEADER_SERIAL,
                self.config().platform_public_key_id.clone(),
            ),
            (crate::HEADER_SIGNATURE_TYPE, crate::AUTH_SCHEME.to_owned()),
            (crate::HEADER_REQUEST_ID, hex(32)),
        ];
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                parts.headers.insert(name, value);
            }
        }
        Response::from_parts(parts, Body::from(bytes))
    }
}

// ---- request bodies ----

fn json_body(bytes: &Bytes) -> Result<Value, WxError> {
    serde_json::from_slice(bytes).map_err(|e| param_error(format!("请求体不是有效的JSON: {e}")))
}

/// A required string at a JSON pointer (`/amount/currency`), with WeChat's wording when absent.
fn required_str<'a>(body: &'a Value, pointer: &str) -> Result<&'a str, WxError> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(pointer))
}

fn required_i64(body: &Value, pointer: &str) -> Result<i64, WxError> {
    body.pointer(pointer)
        .and_then(Value::as_i64)
        .ok_or_else(|| missing(pointer))
}

fn optional_str<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer).and_then(Value::as_str)
}

fn missing(pointer: &str) -> WxError {
    param_error(format!(
        "输入源“/body{pointer}”映射到值字段必填性规则校验失败，此字段为必填项"
    ))
}

/// 商户订单号: 6–32 characters of digits, letters, `_-|*`.
fn valid_out_trade_no(no: &str) -> bool {
    (6..=32).contains(&no.len())
        && no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
}

/// 商户退款单号: up to 64 characters of digits, letters, `_-|*@`.
fn valid_out_refund_no(no: &str) -> bool {
    (1..=64).contains(&no.len())
        && no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b))
}

/// 通知地址: an absolute https or http URL, at most 256 characters, without a query.
fn valid_notify_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.len() <= 256
        && !url.contains('?')
}

// ---- endpoints ----

/// JSAPI下单 (`POST /v3/pay/transactions/jsapi`).
async fn jsapi(State(standin): State<StandIn>, bytes: Bytes) -> Answer {
    let config = standin.config();
    let request = json_body(&bytes)?;
    let appid = required_str(&request, "/appid")?;
    let mchid = required_str(&request, "/mchid")?;
    let description = required_str(&request, "/description")?;
    let out_trade_no = required_str(&request, "/out_trade_no")?;
    let notify_url = required_str(&request, "/notify_url")?;
    let total = required_i64(&request, "/amount/total")?;
    let openid = required_str(&request, "/payer/openid")?;
    let currency = optional_str(&request, "/amount/currency").unwrap_or("CNY");

    if mchid != config.mchid {
        return Err(param_error("请求中的mchid与签名的商户号不一致"));
    }
    if appid != config.appid {
        return Err(WxError::new(
            400,
            "APPID_MCHID_NOT_MATCH",
            "AppID和mch_id不匹配",
        ));
    }
    if total < 1 {
        return Err(param_error("总金额amount.total应大于等于1"));
    }
    if currency != "CNY" {
        return Err(param_error("货币类型amount.currency只支持CNY"));
    }
    if description.is_empty() || description.len() > 127 {
        return Err(param_error("商品描述description长度应为1到127字节"));
    }
    if !valid_out_trade_no(out_trade_no) {
        return Err(param_error(
            "商户订单号out_trade_no应为6到32位数字、大小写字母或_-|*",
        ));
    }
    if !valid_notify_url(notify_url) {
        return Err(param_error(
            "通知地址notify_url应为不带参数的https或http地址",
        ));
    }
    if openid.is_empty() {
        return Err(param_error("用户标识payer.openid不能为空"));
    }

    let mut state = standin.state();
    if let Some(order) = state.orders.get(out_trade_no) {
        return match order.transaction.trade_state.as_str() {
            "CLOSED" => Err(WxError::new(400, "ORDER_CLOSED", "订单已关闭")),
            "SUCCESS" | "REFUND" => Err(WxError::new(400, "ORDERPAID", "该订单已支付")),
            _ if order.request == request => {
                Ok(Json(json!({ "prepay_id": order.prepay_id })).into_response())
            }
            _ => Err(invalid_request("201 商户订单号重复")),
        };
    }
    let prepay_id = format!("wx{}{}", beijing_now("%d%H%M%S"), hex(26));
    let transaction = Transaction {
        appid: appid.into(),
        mchid: mchid.into(),
        out_trade_no: out_trade_no.into(),
        transaction_id: None,
        trade_type: None,
        trade_state: "NOTPAY".into(),
        trade_state_desc: Some("订单未支付".into()),
        bank_type: None,
        attach: optional_str(&request, "/attach").map(str::to_owned),
        success_time: None,
        payer: Some(Payer {
            openid: openid.into(),
        }),
        amount: Some(TransactionAmount {
            total,
            payer_total: None,
            currency: currency.into(),
            payer_currency: Some("CNY".into()),
        }),
    };
    let answer = json!({ "prepay_id": prepay_id });
    state.orders.insert(
        out_trade_no.into(),
        Order {
            request,
            prepay_id,
            transaction,
        },
    );
    Ok(Json(answer).into_response())
}

/// 商户订单号查询订单 (`GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…`).
async fn query_order(
    State(standin): State<StandIn>,
    Path(out_trade_no): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answer {
    match query.get("mchid") {
        None => {
            return Err(param_error(
                "输入源“/query/mchid”映射到值字段“直连商户号”必填性规则校验失败，此字段为必填项",
            ))
        }
        Some(mchid) if *mchid != standin.config().mchid => {
            return Err(param_error("请求中的mchid与签名的商户号不一致"))
        }
        Some(_) => {}
    }
    match standin.transaction(&out_trade_no) {
        Some(tx) => Ok(Json(tx).into_response()),
        None => Err(WxError::new(404, "ORDER_NOT_EXIST", "订单不存在")),
    }
}

/// 关闭订单 (`POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`): 204, idempotent.
async fn close_order(
    State(standin): State<StandIn>,
    Path(out_trade_no): Path<String>,
    bytes: Bytes,
) -> Answer {
    let request = json_body(&bytes)?;
    if required_str(&request, "/mchid")? != standin.config().mchid {
        return Err(param_error("请求中的mchid与签名的商户号不一致"));
    }
    let mut state = standin.state();
    let order = state
        .orders
        .get_mut(&out_trade_no)
        .ok_or_else(|| WxError::new(404, "ORDER_NOT_EXIST", "订单不存在"))?;
    let tx = &mut order.transaction;
    if matches!(tx.trade_state.as_str(), "SUCCESS" | "REFUND") {
        return Err(WxError::new(400, "ORDERPAID", "订单已支付"));
    }
    tx.trade_state = "CLOSED".into();
    tx.trade_state_desc = Some("订单已关闭".into());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// 退款申请 (`POST /v3/refund/domestic/refunds`): 200 with the refund, `PROCESSING`.
async fn create_refund(State(standin): State<StandIn>, bytes: Bytes) -> Answer {
    let request = json_body(&bytes)?;
    let out_refund_no = required_str(&request, "/out_refund_no")?;
    let refund = required_i64(&request, "/amount/refund")?;
    let total = required_i64(&request, "/amount/total")?;
    let currency = required_str(&request, "/amount/currency")?;
    let out_trade_no = optional_str(&request, "/out_trade_no");
    let transaction_id = optional_str(&request, "/transaction_id");
    if out_trade_no.is_none() && transaction_id.is_none() {
        return Err(param_error(
            "transaction_id和out_trade_no必须二选一进行传参",
        ));
    }
    if !valid_out_refund_no(out_refund_no) {
        return Err(param_error(
            "商户退款单号out_refund_no应为1到64位数字、大小写字母或_-|*@",
        ));
    }
    if refund < 1 {
        return Err(param_error("退款金额amount.refund应大于等于1"));
    }
    if currency != "CNY" {
        return Err(param_error("退款币种amount.currency只支持CNY"));
    }
    if optional_str(&request, "/notify_url").is_some_and(|url| !valid_notify_url(url)) {
        return Err(param_error(
            "退款结果回调地址notify_url应为不带参数的https或http地址",
        ));
    }
    if optional_str(&request, "/reason").is_some_and(|r| r.chars().count() > 80) {
        return Err(param_error("退款原因reason不能超过80个字符"));
    }

    let mut state = standin.state();
    let order = state.orders.values().find(|o| {
        out_trade_no.is_some_and(|no| o.transaction.out_trade_no == no)
            || transaction_id.is_some_and(|id| o.transaction.transaction_id.as_deref() == Some(id))
    });
    let Some(order) = order else {
        return Err(WxError::new(404, "RESOURCE_NOT_EXISTS", "订单不存在"));
    };
    let tx = order.transaction.clone();
    if let Some(existing) = state.refunds.get(out_refund_no) {
        let same = existing.out_trade_no == tx.out_trade_no
            && existing.amount.refund == refund
            && existing.amount.total == total;
        return match same {
            true => Ok(Json(existing.clone()).into_response()),
            false => Err(invalid_request(
                "商户退款单号out_refund_no已用于另一笔退款，请求参数与原退款不一致",
            )),
        };
    }
    match tx.trade_state.as_str() {
        "SUCCESS" | "REFUND" => {}
        "CLOSED" => return Err(invalid_request("订单已关闭，不能退款")),
        _ => return Err(invalid_request("订单未支付，不能退款")),
    }
    let paid = tx.amount.as_ref().map_or(0, |a| a.total);
    if total != paid {
        return Err(invalid_request("订单金额amount.total与原订单金额不一致"));
    }
    let refunded: i64 = state
        .refunds
        .values()
        .filter(|r| r.out_trade_no == tx.out_trade_no && r.status != "CLOSED")
        .map(|r| r.amount.refund)
        .sum();
    if refund > paid - refunded {
        return Err(invalid_request("申请退款金额超过订单可退金额"));
    }

    let created = Refund {
        mchid: None,
        out_trade_no: tx.out_trade_no.clone(),
        transaction_id: tx.transaction_id.clone(),
        out_refund_no: out_refund_no.into(),
        refund_id: format!("50300{}{}", beijing_now("%Y%m%d"), digits(16)),
        status: "PROCESSING".into(),
        channel: Some("ORIGINAL".into()),
        user_received_account: Some("支付用户零钱".into()),
        success_time: None,
        create_time: Some(beijing_now(RFC3339)),
        funds_account: Some("AVAILABLE".into()),
        amount: RefundAmount {
            total,
            refund,
            payer_total: Some(
                tx.amount
                    .as_ref()
                    .and_then(|a| a.payer_total)
                    .unwrap_or(total),
            ),
            payer_refund: Some(refund),
            settlement_refund: Some(refund),
            settlement_total: Some(total),
            discount_refund: Some(0),
            currency: Some("CNY".into()),
        },
    };
    if let Some(order) = state.orders.get_mut(&tx.out_trade_no) {
        order.transaction.trade_state = "REFUND".into();
        order.transaction.trade_state_desc = Some("转入退款".into());
    }
    state.refunds.insert(out_refund_no.into(), created.clone());
    Ok(Json(created).into_response())
}

/// 查询单笔退款 (`GET /v3/refund/domestic/refunds/{out_refund_no}`).
async fn query_refund(State(standin): State<StandIn>, Path(out_refund_no): Path<String>) -> Answer {
    match standin.refund(&out_refund_no) {
        Some(refund) => Ok(Json(refund).into_response()),
        None => Err(WxError::new(404, "RESOURCE_NOT_EXISTS", "退款单不存在")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_wechats_rules() {
        assert!(valid_out_trade_no("FH_2024-01|*x"));
        assert!(
            !valid_out_trade_no("short")
                && !valid_out_trade_no(&"1".repeat(33))
                && !valid_out_trade_no("FH 123456")
        );
        assert!(
            valid_out_refund_no("R@1")
                && !valid_out_refund_no("")
                && !valid_out_refund_no("退款123")
        );
        assert!(
            valid_notify_url("https://shop.example.com/wechat/notify")
                && valid_notify_url("http://127.0.0.1:3000/n")
        );
        assert!(
            !valid_notify_url("https://shop.example.com/n?x=1")
                && !valid_notify_url("ftp://x/y")
                && !valid_notify_url("https://")
        );
    }
}
