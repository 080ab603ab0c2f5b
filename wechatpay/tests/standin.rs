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
        Merchant {
            standin: StandIn::start(StandInConfig::for_tests()).await,
            key: parse_private_key(MERCHANT_PRIVATE_KEY_PEM).unwrap(),
            platform: parse_public_key(PLATFORM_PUBLIC_KEY_PEM).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: &str, url: &str, body: Option<Value>) -> Answer {
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
        self.send(method, url, body, &auth).await
    }

    async fn send(&self, method: &str, url: &str, body: String, authorization: &str) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{url}", self.standin.base_url()))
            .header("Authorization", authorization)
            .header("Accept", "application/json");
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
