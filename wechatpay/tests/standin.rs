//! The stand-in speaks WeChat Pay v3: a merchant client built from this crate's functions alone
//! (sign requests, verify answers, decrypt notifications) drives it as it would the real one.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use wechatpay::standin::{StandIn, StandInConfig};
use wechatpay::test_keys::{MERCHANT_PRIVATE_KEY_PEM, PLATFORM_PUBLIC_KEY_PEM};
use wechatpay::*;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A merchant's API client, as the gateway's will be, pointed at the stand-in.
struct Merchant {
    standin: StandIn,
    key: rsa::RsaPrivateKey,
    platform: rsa::RsaPublicKey,
    http: reqwest::Client,
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn code(&self) -> String {
        serde_json::from_str::<ApiError>(&self.body).unwrap().code
    }
}

impl Merchant {
    async fn start() -> Merchant {
        Merchant::start_with(StandInConfig::for_tests()).await
    }

    async fn start_with(config: StandInConfig) -> Merchant {
        Merchant {
            standin: StandIn::start(config).await,
            key: parse_private_key(MERCHANT_PRIVATE_KEY_PEM).unwrap(),
            platform: parse_public_key(PLATFORM_PUBLIC_KEY_PEM).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, url: &str, body: Option<Value>) -> Answer {
        self.call_with(method, url, body, &[]).await
    }

    /// A signed call with extra headers, e.g. `Wechatpay-Serial` for encrypted fields.
    async fn call_with(
        &self,
        method: &str,
        url: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let config = self.standin.config();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let auth = authorization(
            &config.mchid,
            &config.merchant_serial_no,
            &self.key,
            method,
            url,
            now(),
            &nonce(),
            &body,
        );
        self.send_with(method, url, body, &auth, extra).await
    }

    async fn send(&self, method: &str, url: &str, body: String, authorization: &str) -> Answer {
        self.send_with(method, url, body, authorization, &[]).await
    }

    async fn send_with(
        &self,
        method: &str,
        url: &str,
        body: String,
        authorization: &str,
        extra: &[(&str, &str)],
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{url}", self.standin.base_url()))
            .header("Authorization", authorization)
            .header("Accept", "application/json");
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        if !body.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let answer = Answer {
            status,
            headers,
            body: response.text().await.unwrap(),
        };
        self.assert_signed_by_wechat(&answer);
        answer
    }

    /// Every answer, errors included, carries a valid WeChat Pay signature.
    fn assert_signed_by_wechat(&self, answer: &Answer) {
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .unwrap_or_else(|| panic!("no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            header(HEADER_SERIAL),
            self.standin.config().platform_public_key_id
        );
        assert_eq!(header(HEADER_SIGNATURE_TYPE), AUTH_SCHEME);
        assert!(!header(HEADER_REQUEST_ID).is_empty());
        let timestamp: i64 = header(HEADER_TIMESTAMP).parse().unwrap();
        assert!(within_clock_skew(timestamp, now()));
        let verified = verify_response(
            &self.platform,
            timestamp,
            &header(HEADER_NONCE),
            &answer.body,
            &header(HEADER_SIGNATURE),
        );
        assert_eq!(verified, Ok(()), "answer {} {}", answer.status, answer.body);
    }

    async fn order(&self, out_trade_no: &str, total: i64) -> Answer {
        self.call(
            "POST",
            "/v3/pay/transactions/jsapi",
            Some(order_body(out_trade_no, total)),
        )
        .await
    }

    async fn query(&self, out_trade_no: &str) -> Answer {
        let url = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=1230000109");
        self.call("GET", &url, None).await
    }

    async fn refund(
        &self,
        out_trade_no: &str,
        out_refund_no: &str,
        refund: i64,
        total: i64,
    ) -> Answer {
        let body = json!({
            "out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "reason": "商品已售完",
            "notify_url": "https://shop.example.com/wechatpay/refund",
            "amount": { "refund": refund, "total": total, "currency": "CNY" },
        });
        self.call("POST", "/v3/refund/domestic/refunds", Some(body))
            .await
    }
}

const TRANSFERS: &str = "/v3/fund-app/mch-transfer/transfer-bills";

fn transfer_url(out_bill_no: &str) -> String {
    format!("{TRANSFERS}/out-bill-no/{out_bill_no}")
}

fn cancel_url(out_bill_no: &str) -> String {
    format!("{TRANSFERS}/out-bill-no/{out_bill_no}/cancel")
}

/// A 现金营销 (scene 1000) transfer, as the gateway sends it.
fn transfer_body(out_bill_no: &str, amount: i64) -> Value {
    let request = TransferBillRequest {
        appid: "wxd678efh567hg6787".into(),
        out_bill_no: out_bill_no.into(),
        transfer_scene_id: "1000".into(),
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
        user_name: None,
        transfer_amount: amount,
        transfer_remark: "分红小店推广奖励".into(),
        notify_url: Some("https://shop.example.com/wechatpay/transfer".into()),
        user_recv_perception: Some("现金奖励".into()),
        transfer_scene_report_infos: vec![
            TransferSceneReportInfo {
                info_type: "活动名称".into(),
                info_content: "推广有礼".into(),
            },
            TransferSceneReportInfo {
                info_type: "奖励说明".into(),
                info_content: "推广新客奖励".into(),
            },
        ],
    };
    serde_json::to_value(request).unwrap()
}

fn order_body(out_trade_no: &str, total: i64) -> Value {
    json!({
        "appid": "wxd678efh567hg6787", "mchid": "1230000109", "description": "分红小店-拿铁",
        "out_trade_no": out_trade_no, "notify_url": "https://shop.example.com/wechatpay/notify",
        "amount": { "total": total, "currency": "CNY" },
        "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
    })
}

#[tokio::test]
async fn a_signed_jsapi_order_succeeds_and_its_answer_verifies() {
    let m = Merchant::start().await;
    let answer = m.order("FH20250101001", 1800).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let prepay_id = answer.json()["prepay_id"].as_str().unwrap().to_owned();
    assert!(prepay_id.starts_with("wx") && prepay_id.len() <= 64);

    let requests = m.standin.requests();
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/v3/pay/transactions/jsapi")
    );
    assert!(requests[0].signature_valid);

    let stored = m.standin.transaction("FH20250101001").unwrap();
    assert_eq!(
        (stored.trade_state.as_str(), stored.amount.unwrap().total),
        ("NOTPAY", 1800)
    );

    // The same order again answers the same prepay_id; a changed one is refused.
    assert_eq!(
        m.order("FH20250101001", 1800).await.json()["prepay_id"],
        prepay_id.as_str()
    );
    let changed = m.order("FH20250101001", 1900).await;
    assert_eq!(
        (changed.status, changed.code()),
        (400, "INVALID_REQUEST".into())
    );
}

#[tokio::test]
async fn a_bad_signature_wrong_serial_or_stale_timestamp_is_401_sign_error() {
    let m = Merchant::start().await;
    let config = m.standin.config();
    let (url, body) = (
        "/v3/pay/transactions/jsapi",
        order_body("FH20250101002", 1).to_string(),
    );

    let signed_other_body = authorization(
        &config.mchid,
        &config.merchant_serial_no,
        &m.key,
        "POST",
        url,
        now(),
        &nonce(),
        "{}",
    );
    let wrong_serial = authorization(
        &config.mchid,
        "0000",
        &m.key,
        "POST",
        url,
        now(),
        &nonce(),
        &body,
    );
    let stale = authorization(
        &config.mchid,
        &config.merchant_serial_no,
        &m.key,
        "POST",
        url,
        now() - 600,
        &nonce(),
        &body,
    );
    for auth in [
        signed_other_body,
        wrong_serial,
        stale,
        "WECHATPAY2-SHA256-RSA2048 junk".to_owned(),
    ] {
        let answer = m.send("POST", url, body.clone(), &auth).await;
        assert_eq!(
            (answer.status, answer.code()),
            (401, "SIGN_ERROR".into()),
            "{auth}"
        );
    }
    assert!(m.standin.requests().iter().all(|r| !r.signature_valid));
    assert!(m.standin.transaction("FH20250101002").is_none());
}

#[tokio::test]
async fn orders_are_validated_as_wechat_does() {
    let m = Merchant::start().await;
    let mut wrong_app = order_body("FH20250101003", 100);
    wrong_app["appid"] = json!("wx0000000000000000");
    let cases = [
        (wrong_app, "APPID_MCHID_NOT_MATCH"),
        (order_body("FH20250101003", 0), "PARAM_ERROR"),
        (order_body("FH 1", 100), "PARAM_ERROR"),
        (json!({ "appid": "wxd678efh567hg6787" }), "PARAM_ERROR"),
    ];
    for (body, code) in cases {
        let answer = m
            .call("POST", "/v3/pay/transactions/jsapi", Some(body))
            .await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, code.to_owned()),
            "{}",
            answer.body
        );
    }
    assert_eq!(m.order("FH20250101003", 100).await.status, 200);
    let no_mchid = "/v3/pay/transactions/out-trade-no/FH20250101003";
    let without_mchid = m.call("GET", no_mchid, None).await;
    assert_eq!(
        (without_mchid.status, without_mchid.code()),
        (400, "PARAM_ERROR".into())
    );
}

#[tokio::test]
async fn paying_shows_in_the_query_and_in_a_notification_that_decrypts() {
    let m = Merchant::start().await;
    m.order("FH20250101004", 2500).await;
    assert_eq!(
        m.query("FH20250101004").await.json()["trade_state"],
        "NOTPAY"
    );
    let missing = m.query("FH20259999999").await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "ORDER_NOT_EXIST".into())
    );

    let paid = m.standin.pay("FH20250101004");
    let queried: Transaction = serde_json::from_str(&m.query("FH20250101004").await.body).unwrap();
    assert_eq!(queried, paid);
    assert_eq!(queried.trade_state, "SUCCESS");
    assert!(queried.transaction_id.is_some() && queried.success_time.is_some());
    assert_eq!(queried.amount.unwrap().payer_total, Some(2500));

    let sent = m.standin.transaction_notification("FH20250101004");
    assert_eq!(sent.serial, m.standin.config().platform_public_key_id);
    assert_eq!(
        verify_response(
            &m.platform,
            sent.timestamp,
            &sent.nonce,
            &sent.body,
            &sent.signature
        ),
        Ok(())
    );
    let notification: Notification = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        (
            notification.event_type.as_str(),
            notification.resource.original_type.as_str()
        ),
        ("TRANSACTION.SUCCESS", "transaction")
    );
    let tx: Transaction = notification
        .decrypt(&m.standin.config().api_v3_key)
        .unwrap();
    assert_eq!(tx, paid);
    assert_eq!(
        notification.decrypt::<Transaction>(b"FenhongStandInApiV3Key0000000033"),
        Err(Error::Decrypt)
    );
}

#[tokio::test]
async fn closing_is_204_then_the_order_is_closed_and_paid_orders_cannot_close() {
    let m = Merchant::start().await;
    let close = |no: &str| format!("/v3/pay/transactions/out-trade-no/{no}/close");
    m.order("FH20250101005", 100).await;
    let closed = m
        .call(
            "POST",
            &close("FH20250101005"),
            Some(json!({ "mchid": "1230000109" })),
        )
        .await;
    assert_eq!((closed.status, closed.body.as_str()), (204, ""));
    assert_eq!(
        m.query("FH20250101005").await.json()["trade_state"],
        "CLOSED"
    );
    let reorder = m.order("FH20250101005", 100).await;
    assert_eq!(
        (reorder.status, reorder.code()),
        (400, "ORDER_CLOSED".into())
    );

    m.order("FH20250101006", 100).await;
    m.standin.pay("FH20250101006");
    let paid = m
        .call(
            "POST",
            &close("FH20250101006"),
            Some(json!({ "mchid": "1230000109" })),
        )
        .await;
    assert_eq!((paid.status, paid.code()), (400, "ORDERPAID".into()));
    let unknown = m
        .call(
            "POST",
            &close("FH20259999999"),
            Some(json!({ "mchid": "1230000109" })),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "ORDER_NOT_EXIST".into())
    );
}

#[tokio::test]
async fn refunds_are_checked_settle_and_notify() {
    let m = Merchant::start().await;
    m.order("FH20250101007", 100).await;
    let unpaid = m.refund("FH20250101007", "RF1", 10, 100).await;
    assert_eq!(
        (unpaid.status, unpaid.code()),
        (400, "INVALID_REQUEST".into())
    );
    let unknown = m.refund("FH20259999999", "RF1", 10, 100).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "RESOURCE_NOT_EXISTS".into())
    );
    m.standin.pay("FH20250101007");

    let first = m.refund("FH20250101007", "RF1", 60, 100).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let refund: Refund = serde_json::from_str(&first.body).unwrap();
    assert_eq!(
        (
            refund.status.as_str(),
            refund.amount.refund,
            refund.amount.currency.as_deref()
        ),
        ("PROCESSING", 60, Some("CNY"))
    );
    assert_eq!(
        m.refund("FH20250101007", "RF1", 60, 100).await.json()["refund_id"],
        refund.refund_id.as_str()
    );
    for (refund, total) in [(41, 100), (10, 99)] {
        let refused = m.refund("FH20250101007", "RF2", refund, total).await;
        assert_eq!(
            (refused.status, refused.code()),
            (400, "INVALID_REQUEST".into()),
            "{}",
            refused.body
        );
    }
    assert_eq!(
        m.query("FH20250101007").await.json()["trade_state"],
        "REFUND"
    );

    let fetched = m.call("GET", "/v3/refund/domestic/refunds/RF1", None).await;
    assert_eq!(
        serde_json::from_str::<Refund>(&fetched.body).unwrap(),
        refund
    );
    let nothing = m.call("GET", "/v3/refund/domestic/refunds/RF9", None).await;
    assert_eq!(
        (nothing.status, nothing.code()),
        (404, "RESOURCE_NOT_EXISTS".into())
    );

    let settled = m.standin.refund_settles("RF1", "SUCCESS");
    assert!(settled.success_time.is_some());
    let sent = m.standin.refund_notification("RF1");
    assert_eq!(
        verify_response(
            &m.platform,
            sent.timestamp,
            &sent.nonce,
            &sent.body,
            &sent.signature
        ),
        Ok(())
    );
    let notification = sent.notification();
    assert_eq!(notification.event_type, "REFUND.SUCCESS");
    let plain = decrypt_resource(
        &m.standin.config().api_v3_key,
        &notification.resource.nonce,
        "refund",
        &notification.resource.ciphertext,
    )
    .unwrap();
    let resource: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        (resource["refund_status"].as_str(), resource.get("status")),
        (Some("SUCCESS"), None)
    );
    let notified: Refund = notification
        .decrypt(&m.standin.config().api_v3_key)
        .unwrap();
    assert_eq!(
        (
            notified.status.as_str(),
            notified.mchid.as_deref(),
            notified.amount.refund
        ),
        ("SUCCESS", Some("1230000109"), 60)
    );

    // A closed refund gives its amount back.
    m.standin.refund_settles("RF1", "CLOSED");
    assert_eq!(
        m.standin
            .refund_notification("RF1")
            .notification()
            .event_type,
        "REFUND.CLOSED"
    );
    assert_eq!(m.refund("FH20250101007", "RF3", 100, 100).await.status, 200);
}

#[tokio::test]
async fn fail_next_answers_one_wechat_error_then_recovers() {
    let m = Merchant::start().await;
    m.standin
        .fail_next("/v3/pay/transactions/jsapi", 500, "SYSTEM_ERROR");
    let failed = m.order("FH20250101008", 100).await;
    assert_eq!((failed.status, failed.code()), (500, "SYSTEM_ERROR".into()));
    assert!(m.standin.transaction("FH20250101008").is_none());
    assert_eq!(m.order("FH20250101008", 100).await.status, 200);
}

/// A receiver checks notifications as the gateway must: signature, key id, time, then decrypts.
#[tokio::test]
async fn notifications_post_with_their_headers_and_tampering_is_detectable() {
    use axum::{extract::State, routing::post, Router};

    async fn receive(
        State(config): State<StandInConfig>,
        headers: HeaderMap,
        body: String,
    ) -> StatusCode {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let Ok(timestamp) = header(HEADER_TIMESTAMP).parse::<i64>() else {
            return StatusCode::BAD_REQUEST;
        };
        let platform = config.platform_private_key.to_public_key();
        let signed = verify_response(
            &platform,
            timestamp,
            &header(HEADER_NONCE),
            &body,
            &header(HEADER_SIGNATURE),
        )
        .is_ok();
        if !signed
            || header(HEADER_SERIAL) != config.platform_public_key_id
            || !within_clock_skew(timestamp, now())
        {
            return StatusCode::UNAUTHORIZED;
        }
        let decrypted = serde_json::from_str::<Notification>(&body)
            .ok()
            .and_then(|n| n.decrypt::<Transaction>(&config.api_v3_key).ok());
        if decrypted.is_some() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    let m = Merchant::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/notify", post(receive))
        .with_state(m.standin.config().clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    m.order("FH20250101009", 100).await;
    m.standin.pay("FH20250101009");
    let sent = m.standin.transaction_notification("FH20250101009");
    assert_eq!(sent.send(&url).await.0, 200);

    let forger = parse_private_key(MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let altered = sent.body.replace("encrypt-resource", "encrypt-resourcE");
    let old_signature = sent.with_timestamp(sent.timestamp + 1).signature;
    let cases = [
        (
            sent.with_body(altered.clone())
                .with_signature(sent.signature.clone()),
            401,
        ),
        (sent.with_timestamp(now() - 3600), 401),
        (sent.signed_by(&forger), 401),
        (sent.with_serial("PUB_KEY_ID_0000"), 401),
        (sent.with_signature(old_signature), 401),
        (sent.with_body(altered), 200), // re-signed by WeChat's key: valid, only the envelope changed
        (sent.with_body("{}"), 400),
    ];
    for (notification, expected) in cases {
        assert_eq!(
            notification.send(&url).await.0,
            expected,
            "{}",
            notification.body
        );
    }
    let request = sent.http_request("/notify");
    assert_eq!(request.headers()[HEADER_SIGNATURE], sent.signature.as_str());
    assert_eq!(request.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn a_signed_transfer_waits_for_the_payee_with_a_package_and_repeats_idempotently() {
    let m = Merchant::start().await;
    let answer = m
        .call(
            "POST",
            TRANSFERS,
            Some(transfer_body("FHT20250101001", 500)),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let keys: Vec<String> = answer.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "create_time",
            "out_bill_no",
            "package_info",
            "state",
            "transfer_bill_no"
        ]
    );
    let created: TransferBill = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        (created.out_bill_no.as_str(), created.state.as_str()),
        ("FHT20250101001", "WAIT_USER_CONFIRM")
    );
    let package = created.package_info.clone().unwrap();
    assert!(package.len() >= 64, "{package}");
    assert!(created.transfer_bill_no.starts_with("1330") && created.create_time.is_some());
    assert!(m.standin.requests()[0].signature_valid);

    // The same bill again answers the same bill; other content under the same number is refused.
    let again = m
        .call(
            "POST",
            TRANSFERS,
            Some(transfer_body("FHT20250101001", 500)),
        )
        .await;
    assert_eq!(
        serde_json::from_str::<TransferBill>(&again.body).unwrap(),
        created
    );
    let changed = m
        .call(
            "POST",
            TRANSFERS,
            Some(transfer_body("FHT20250101001", 600)),
        )
        .await;
    assert_eq!(
        (changed.status, changed.code()),
        (400, "INVALID_REQUEST".into())
    );

    let queried = m.call("GET", &transfer_url("FHT20250101001"), None).await;
    assert_eq!(queried.status, 200, "{}", queried.body);
    let bill: TransferBill = serde_json::from_str(&queried.body).unwrap();
    assert_eq!(
        Some(&bill),
        m.standin.transfer_bill("FHT20250101001").as_ref()
    );
    assert_eq!(
        (
            bill.state.as_str(),
            bill.transfer_bill_no.as_str(),
            bill.package_info.as_deref()
        ),
        ("WAIT_USER_CONFIRM", created.transfer_bill_no.as_str(), None)
    );
    assert_eq!(
        (
            bill.mch_id.as_deref(),
            bill.appid.as_deref(),
            bill.transfer_amount,
            bill.openid.as_deref()
        ),
        (
            Some("1230000109"),
            Some("wxd678efh567hg6787"),
            Some(500),
            Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
        )
    );
    assert_eq!(bill.transfer_remark.as_deref(), Some("分红小店推广奖励"));
    assert!(bill.update_time.is_some());

    let missing = m.call("GET", &transfer_url("FHT20259999999"), None).await;
    assert_eq!((missing.status, missing.code()), (404, "NOT_FOUND".into()));
}

#[tokio::test]
async fn transfers_are_validated_as_wechat_does() {
    let mut config = StandInConfig::for_tests();
    config.transfer_limits = 10..=500_000;
    let m = Merchant::start_with(config).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = transfer_body("FHT20250101002", 500);
        change(&mut body);
        body
    };
    let cases = [
        (
            with(&|b| b["appid"] = json!("wx0000000000000000")),
            "INVALID_REQUEST",
        ),
        (
            with(&|b| b["out_bill_no"] = json!("FHT-2025")),
            "PARAM_ERROR",
        ),
        (with(&|b| b["out_bill_no"] = json!("FH1")), "PARAM_ERROR"),
        (
            with(&|b| b["out_bill_no"] = json!("F".repeat(33))),
            "PARAM_ERROR",
        ),
        (with(&|b| b["transfer_amount"] = json!(0)), "PARAM_ERROR"),
        (
            with(&|b| b["transfer_amount"] = json!(9)),
            "INVALID_REQUEST",
        ),
        (
            with(&|b| b["transfer_amount"] = json!(500_001)),
            "INVALID_REQUEST",
        ),
        (
            with(&|b| b["transfer_amount"] = json!(200_000)),
            "PARAM_ERROR", // 2,000 yuan and more need the payee's name
        ),
        (
            with(&|b| b["transfer_remark"] = json!("奖".repeat(33))),
            "PARAM_ERROR",
        ),
        (with(&|b| b["transfer_remark"] = json!("")), "PARAM_ERROR"),
        (with(&|b| b["openid"] = json!("")), "PARAM_ERROR"),
        (with(&|b| b["transfer_scene_id"] = json!("")), "PARAM_ERROR"),
        (
            with(&|b| b["notify_url"] = json!("ftp://shop.example.com/n")),
            "PARAM_ERROR",
        ),
        (
            with(&|b| {
                b["transfer_scene_report_infos"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            }),
            "PARAM_ERROR", // 现金营销 needs both 活动名称 and 奖励说明
        ),
        (
            with(&|b| b["transfer_scene_report_infos"][1]["info_type"] = json!("活动名称")),
            "PARAM_ERROR",
        ),
        (
            with(&|b| b["transfer_scene_report_infos"] = json!([])),
            "PARAM_ERROR",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("transfer_remark");
            }),
            "PARAM_ERROR",
        ),
        (
            with(&|b| b["user_name"] = json!("not encrypted")),
            "PARAM_ERROR", // no Wechatpay-Serial
        ),
    ];
    for (body, code) in cases {
        let answer = m.call("POST", TRANSFERS, Some(body.clone())).await;
        assert_eq!(
            (answer.status, answer.code()),
            (400, code.to_owned()),
            "{body} → {}",
            answer.body
        );
    }
    assert!(m.standin.transfer_bill("FHT20250101002").is_none());

    // 32 characters of remark, another scene with its own items, optional fields left out.
    let mut body = with(&|b| b["transfer_remark"] = json!("奖".repeat(32)));
    body["transfer_scene_id"] = json!("1005");
    body["transfer_scene_report_infos"] = json!([
        { "info_type": "岗位类型", "info_content": "推广员" },
        { "info_type": "报酬说明", "info_content": "1月推广佣金" },
    ]);
    for field in ["notify_url", "user_recv_perception"] {
        body.as_object_mut().unwrap().remove(field);
    }
    let answer = m.call("POST", TRANSFERS, Some(body)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // An encrypted name: WeChat Pay's key id in Wechatpay-Serial and a 2048-bit RSA ciphertext.
    // Every encryption differs, so a retry with another ciphertext is still the same bill.
    let sealed = |byte: u8| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([byte; 256])
    };
    let serial = m.standin.config().platform_public_key_id.clone();
    let named = |byte: u8| {
        let mut body = transfer_body("FHT20250101003", 200_000);
        body["user_name"] = json!(sealed(byte));
        body
    };
    let headers = [(HEADER_SERIAL, serial.as_str())];
    let first = m
        .call_with("POST", TRANSFERS, Some(named(1)), &headers)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let retry = m
        .call_with("POST", TRANSFERS, Some(named(2)), &headers)
        .await;
    assert_eq!(retry.json(), first.json());
    let wrong_serial = m
        .call_with(
            "POST",
            TRANSFERS,
            Some(named(3)),
            &[(HEADER_SERIAL, "PUB_KEY_ID_0000")],
        )
        .await;
    assert_eq!(
        (wrong_serial.status, wrong_serial.code()),
        (400, "PARAM_ERROR".into())
    );
    let mut short = named(1);
    short["user_name"] = json!("c2hvcnQ=");
    let short = m.call_with("POST", TRANSFERS, Some(short), &headers).await;
    assert_eq!((short.status, short.code()), (400, "PARAM_ERROR".into()));
}

#[tokio::test]
async fn cancelling_a_waiting_transfer_answers_canceling_and_final_bills_cannot_cancel() {
    let m = Merchant::start().await;
    m.call(
        "POST",
        TRANSFERS,
        Some(transfer_body("FHT20250101004", 300)),
    )
    .await;
    let cancel = m.call("POST", &cancel_url("FHT20250101004"), None).await;
    assert_eq!(cancel.status, 200, "{}", cancel.body);
    let keys: Vec<String> = cancel.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["out_bill_no", "state", "transfer_bill_no", "update_time"]
    );
    let accepted: TransferBill = serde_json::from_str(&cancel.body).unwrap();
    assert_eq!(accepted.state, "CANCELING");

    let bill: TransferBill = serde_json::from_str(
        &m.call("GET", &transfer_url("FHT20250101004"), None)
            .await
            .body,
    )
    .unwrap();
    assert_eq!(
        (bill.state.as_str(), bill.fail_reason.as_deref()),
        ("CANCELLED", Some("MCH_CANCEL"))
    );
    assert_eq!(bill.transfer_bill_no, accepted.transfer_bill_no);
    assert!(bill.is_final());

    // Cancelling again answers the cancelled bill; the payee can no longer confirm it.
    let again = m.call("POST", &cancel_url("FHT20250101004"), None).await;
    assert_eq!(
        (again.status, again.json()["state"].clone()),
        (200, json!("CANCELLED"))
    );
    let confirm = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.standin.confirm_transfer("FHT20250101004")
    }));
    assert!(confirm.is_err());

    m.call(
        "POST",
        TRANSFERS,
        Some(transfer_body("FHT20250101005", 300)),
    )
    .await;
    m.standin.confirm_transfer("FHT20250101005");
    let paid = m.call("POST", &cancel_url("FHT20250101005"), None).await;
    assert_eq!((paid.status, paid.code()), (400, "INVALID_REQUEST".into()));
    assert_eq!(
        m.standin.transfer_bill("FHT20250101005").unwrap().state,
        "SUCCESS"
    );
    let unknown = m.call("POST", &cancel_url("FHT20259999999"), None).await;
    assert_eq!((unknown.status, unknown.code()), (404, "NOT_FOUND".into()));
}

#[tokio::test]
async fn finished_transfers_notify_and_the_resource_decrypts_to_the_bill() {
    let m = Merchant::start().await;
    for no in ["FHT20250101006", "FHT20250101007", "FHT20250101008"] {
        let answer = m
            .call("POST", TRANSFERS, Some(transfer_body(no, 800)))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let unfinished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.standin.transfer_notification("FHT20250101006")
    }));
    assert!(unfinished.is_err(), "WAIT_USER_CONFIRM is not notified");

    let confirmed = m.standin.confirm_transfer("FHT20250101006");
    assert_eq!(
        (confirmed.state.as_str(), confirmed.fail_reason.as_deref()),
        ("SUCCESS", None)
    );
    assert_eq!(m.standin.confirm_transfer("FHT20250101006"), confirmed);
    let failed = m.standin.transfer_ends("FHT20250101007", "FAIL");
    assert_eq!(failed.fail_reason.as_deref(), Some("TRANSFER_RISK"));
    let cancelled = m.standin.transfer_ends("FHT20250101008", "CANCELLED");
    assert_eq!(cancelled.fail_reason.as_deref(), Some("MCH_CANCEL"));
    let refinished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        m.standin.transfer_ends("FHT20250101007", "SUCCESS")
    }));
    assert!(refinished.is_err(), "a failed bill stays failed");

    let key = m.standin.config().api_v3_key;
    for expected in [confirmed, failed, cancelled] {
        let sent = m.standin.transfer_notification(&expected.out_bill_no);
        assert_eq!(
            verify_response(
                &m.platform,
                sent.timestamp,
                &sent.nonce,
                &sent.body,
                &sent.signature
            ),
            Ok(())
        );
        assert_eq!(sent.serial, m.standin.config().platform_public_key_id);
        let notification = sent.notification();
        assert_eq!(
            (
                notification.event_type.as_str(),
                notification.resource_type.as_str(),
                notification.summary.as_str()
            ),
            (
                TRANSFER_BILL_FINISHED,
                "encrypt-resource",
                "商家转账单据终态通知"
            )
        );
        assert_eq!(notification.resource.original_type, "mch_payment");
        assert_eq!(
            notification.resource.associated_data.as_deref(),
            Some("mch_payment")
        );
        let resource: Value = serde_json::from_slice(
            &decrypt_resource(
                &key,
                &notification.resource.nonce,
                "mch_payment",
                &notification.resource.ciphertext,
            )
            .unwrap(),
        )
        .unwrap();
        assert!(resource.get("appid").is_none() && resource.get("package_info").is_none());
        let bill: TransferBill = notification.decrypt(&key).unwrap();
        assert_eq!(
            bill,
            TransferBill {
                appid: None,
                transfer_remark: None,
                ..expected.clone()
            }
        );
        let queried: TransferBill = serde_json::from_str(
            &m.call("GET", &transfer_url(&expected.out_bill_no), None)
                .await
                .body,
        )
        .unwrap();
        assert_eq!(queried, expected);
    }
}

#[tokio::test]
async fn fail_next_works_for_transfers_too() {
    let m = Merchant::start().await;
    m.standin
        .fail_next("/v3/fund-app/mch-transfer", 500, "SYSTEM_ERROR");
    let failed = m
        .call(
            "POST",
            TRANSFERS,
            Some(transfer_body("FHT20250101009", 100)),
        )
        .await;
    assert_eq!((failed.status, failed.code()), (500, "SYSTEM_ERROR".into()));
    assert!(m.standin.transfer_bill("FHT20250101009").is_none());
    let created = m
        .call(
            "POST",
            TRANSFERS,
            Some(transfer_body("FHT20250101009", 100)),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);

    m.standin
        .fail_next(&cancel_url("FHT20250101009"), 429, "FREQUENCY_LIMITED");
    m.standin
        .fail_next(&transfer_url("FHT20250101009"), 500, "SYSTEM_ERROR");
    let limited = m.call("POST", &cancel_url("FHT20250101009"), None).await;
    assert_eq!(
        (limited.status, limited.code()),
        (429, "FREQUENCY_LIMITED".into())
    );
    assert_eq!(
        m.standin.transfer_bill("FHT20250101009").unwrap().state,
        "WAIT_USER_CONFIRM"
    );
    let broken = m.call("GET", &transfer_url("FHT20250101009"), None).await;
    assert_eq!((broken.status, broken.code()), (500, "SYSTEM_ERROR".into()));
    let queried = m.call("GET", &transfer_url("FHT20250101009"), None).await;
    assert_eq!(queried.json()["state"], "WAIT_USER_CONFIRM");
}
