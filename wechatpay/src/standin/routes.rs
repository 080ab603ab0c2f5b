//! The stand-in's HTTP side: one gate that checks and records every request and signs every
//! answer, and a handler per endpoint with WeChat's validation and error codes.

use std::collections::HashMap;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

use super::{
    beijing_now, digits, hex, now_secs, package_info, Order, RecordedRequest, StandIn, Transfer,
    RFC3339,
};
use crate::model::{
    ApiError, Payer, Refund, RefundAmount, Transaction, TransactionAmount, TransferBill,
};
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
        .route(
            "/v3/fund-app/mch-transfer/transfer-bills",
            post(create_transfer),
        )
        .route(
            "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}",
            get(query_transfer),
        )
        .route(
            "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel",
            post(cancel_transfer),
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

/// 商户单号 of a transfer bill: digits and ASCII letters only, 5–32 of them.
fn valid_out_bill_no(no: &str) -> bool {
    (5..=32).contains(&no.len()) && no.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The report items each transfer scene must send, exactly these and once each (转账场景ID 及
/// 转账场景报备信息 的固定搭配). Other scenes' items are not checked.
const SCENE_REPORT_INFOS: &[(&str, &[&str])] = &[
    ("1000", &["活动名称", "奖励说明"]),
    ("1002", &["补贴类型"]),
    ("1004", &["保险产品备案编号", "保险名称", "保险操作单号"]),
    ("1005", &["岗位类型", "报酬说明"]),
    ("1009", &["采购商品名称"]),
    ("1010", &["回收商品名称"]),
    ("1011", &["赔付原因"]),
    ("1013", &["公益活动名称", "公益活动备案编号"]),
];

/// 转账场景报备信息: a non-empty list of non-empty `info_type`/`info_content`, matching the
/// scene's fixed items.
fn check_report_infos(scene: &str, infos: &[Value]) -> Result<(), WxError> {
    if infos.is_empty() {
        return Err(missing("/transfer_scene_report_infos"));
    }
    let mut types = Vec::with_capacity(infos.len());
    for info in infos {
        let info_type = info.get("info_type").and_then(Value::as_str);
        let content = info.get("info_content").and_then(Value::as_str);
        match (info_type, content) {
            (Some(t), Some(c)) if !t.is_empty() && !c.is_empty() => types.push(t),
            _ => {
                return Err(param_error(
                    "转账场景报备信息transfer_scene_report_infos的info_type和info_content必填",
                ))
            }
        }
    }
    if let Some((_, expected)) = SCENE_REPORT_INFOS.iter().find(|(id, _)| *id == scene) {
        let mut wanted = expected.to_vec();
        wanted.sort_unstable();
        types.sort_unstable();
        if types != wanted {
            return Err(param_error(format!(
                "转账场景{scene}的报备信息transfer_scene_report_infos应为且仅为：{}",
                expected.join("、")
            )));
        }
    }
    Ok(())
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

/// 发起转账 (`POST /v3/fund-app/mch-transfer/transfer-bills`), 用户确认模式: a bill in
/// `WAIT_USER_CONFIRM` with its `package_info`. The same `out_bill_no` with the same content
/// answers the same bill (as it now is); with other content `INVALID_REQUEST`.
async fn create_transfer(
    State(standin): State<StandIn>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let config = standin.config();
    let request = json_body(&bytes)?;
    let appid = required_str(&request, "/appid")?;
    let out_bill_no = required_str(&request, "/out_bill_no")?;
    let scene = required_str(&request, "/transfer_scene_id")?;
    let openid = required_str(&request, "/openid")?;
    let amount = required_i64(&request, "/transfer_amount")?;
    let remark = required_str(&request, "/transfer_remark")?;
    let infos = request
        .pointer("/transfer_scene_report_infos")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("/transfer_scene_report_infos"))?;
    let user_name = optional_str(&request, "/user_name");

    if !valid_out_bill_no(out_bill_no) {
        return Err(param_error(
            "商户单号out_bill_no应为5到32位数字或大小写字母",
        ));
    }
    if scene.is_empty() || scene.len() > 36 {
        return Err(param_error("转账场景ID transfer_scene_id应为1到36个字符"));
    }
    if openid.is_empty() || openid.len() > 64 {
        return Err(param_error("收款用户OpenID openid应为1到64个字符"));
    }
    if remark.is_empty() || remark.chars().count() > 32 {
        return Err(param_error("转账备注transfer_remark应为1到32个字符"));
    }
    if amount < 1 {
        return Err(param_error("转账金额transfer_amount应大于等于1"));
    }
    if optional_str(&request, "/notify_url").is_some_and(|url| !valid_notify_url(url)) {
        return Err(param_error(
            "通知地址notify_url应为不带参数的https或http地址",
        ));
    }
    check_report_infos(scene, infos)?;
    if appid != config.appid {
        return Err(invalid_request("AppID与商户号的绑定关系不存在"));
    }
    if !config.transfer_limits.contains(&amount) {
        return Err(invalid_request("超过单笔转账上下限，核实产品设置是否准确"));
    }
    if amount >= 200_000 && user_name.is_none() {
        return Err(param_error(
            "转账金额大于等于2000元时，收款用户姓名user_name必填",
        ));
    }
    if let Some(name) = user_name {
        let serial = headers
            .get(crate::HEADER_SERIAL)
            .and_then(|v| v.to_str().ok());
        if serial != Some(config.platform_public_key_id.as_str()) {
            return Err(param_error(
                "请求包含加密字段时，Wechatpay-Serial应为加密所用的微信支付公钥ID",
            ));
        }
        let sealed = BASE64.decode(name).map_or(0, |b| b.len());
        if sealed != config.platform_private_key.size() {
            return Err(param_error(
                "收款用户姓名user_name解密失败，应为微信支付公钥加密后的BASE64字符串",
            ));
        }
    }

    // RSA-OAEP gives another user_name ciphertext on every retry: compare whether one was sent.
    let mut compared = request.clone();
    if let Some(name) = compared.get_mut("user_name") {
        *name = Value::Bool(true);
    }
    let mut state = standin.state();
    if let Some(existing) = state.transfers.get(out_bill_no) {
        return match existing.request == compared {
            true => Ok(Json(create_answer(existing)).into_response()),
            false => Err(invalid_request("单号已存在但信息不一致，请查单后比较确认")),
        };
    }
    let now = beijing_now(RFC3339);
    let transfer = Transfer {
        request: compared,
        package_info: package_info(),
        bill: TransferBill {
            mch_id: Some(config.mchid.clone()),
            out_bill_no: out_bill_no.into(),
            transfer_bill_no: format!("1330{}{}{}", digits(13), beijing_now("%y%m%d"), digits(11)),
            appid: Some(appid.into()),
            state: "WAIT_USER_CONFIRM".into(),
            transfer_amount: Some(amount),
            transfer_remark: Some(remark.into()),
            fail_reason: None,
            openid: Some(openid.into()),
            package_info: None,
            create_time: Some(now.clone()),
            update_time: Some(now),
        },
    };
    let answer = create_answer(&transfer);
    state.transfers.insert(out_bill_no.into(), transfer);
    Ok(Json(answer).into_response())
}

/// 发起转账's answer: the bill's numbers, creation time and state, the `package_info` while the
/// payee has to confirm, and the failure reason once failed.
fn create_answer(transfer: &Transfer) -> Value {
    let bill = &transfer.bill;
    let mut answer = json!({
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": bill.transfer_bill_no,
        "create_time": bill.create_time,
        "state": bill.state,
    });
    if bill.state == "WAIT_USER_CONFIRM" {
        answer["package_info"] = json!(transfer.package_info);
    }
    if let Some(reason) = &bill.fail_reason {
        answer["fail_reason"] = json!(reason);
    }
    answer
}

fn no_transfer_bill() -> WxError {
    WxError::new(404, "NOT_FOUND", "记录不存在")
}

/// 商户单号查询转账单 (`GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}`).
async fn query_transfer(State(standin): State<StandIn>, Path(out_bill_no): Path<String>) -> Answer {
    match standin.transfer_bill(&out_bill_no) {
        Some(bill) => Ok(Json(bill).into_response()),
        None => Err(no_transfer_bill()),
    }
}

/// 撤销转账 (`POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel`):
/// before the transfer is final WeChat accepts (`CANCELING`) and cancels asynchronously; here the
/// bill is `CANCELLED` (`fail_reason` `MCH_CANCEL`) at once while the answer says `CANCELING`.
/// Again on a cancelled bill it answers `CANCELLED`; on a successful or failed one
/// `INVALID_REQUEST`.
async fn cancel_transfer(
    State(standin): State<StandIn>,
    Path(out_bill_no): Path<String>,
) -> Answer {
    let mut state = standin.state();
    let transfer = state
        .transfers
        .get_mut(&out_bill_no)
        .ok_or_else(no_transfer_bill)?;
    let bill = &mut transfer.bill;
    let answered = match bill.state.as_str() {
        "CANCELING" | "CANCELLED" => bill.state.clone(),
        "SUCCESS" | "FAIL" => {
            return Err(invalid_request(format!(
                "转账单据状态为{}，不允许撤销",
                bill.state
            )))
        }
        _ => {
            bill.state = "CANCELLED".into();
            bill.fail_reason = Some("MCH_CANCEL".into());
            bill.update_time = Some(beijing_now(RFC3339));
            "CANCELING".to_owned()
        }
    };
    Ok(Json(json!({
        "out_bill_no": bill.out_bill_no,
        "transfer_bill_no": bill.transfer_bill_no,
        "state": answered,
        "update_time": bill.update_time,
    }))
    .into_response())
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
        assert!(valid_out_bill_no("plfk2020042013") && valid_out_bill_no("ABCde"));
        assert!(
            !valid_out_bill_no("FH01")
                && !valid_out_bill_no(&"1".repeat(33))
                && !valid_out_bill_no("FH_2025001")
                && !valid_out_bill_no("转账单号12345")
        );
        assert!(
            !valid_notify_url("https://shop.example.com/n?x=1")
                && !valid_notify_url("ftp://x/y")
                && !valid_notify_url("https://")
        );
    }
}
