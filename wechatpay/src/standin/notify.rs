//! Notifications the stand-in "sends": encrypted with the API v3 key, signed with its WeChat Pay
//! key, ready to POST at the gateway (or to tamper with first).

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use rsa::RsaPrivateKey;
use serde_json::json;

use super::{alphanumerics, beijing_now, hex, now_secs, StandIn, RFC3339};
use crate::model::{
    Notification, NotificationResource, RESOURCE_ALGORITHM, TRANSFER_BILL_FINISHED,
    TRANSFER_BILL_RESOURCE_TYPE,
};
use crate::{encrypt_resource, response_message, sign, AUTH_SCHEME};

/// A notification as WeChat would POST it: the JSON body and its `Wechatpay-*` headers.
#[derive(Clone, Debug)]
pub struct SignedNotification {
    /// The JSON envelope ([`Notification`]) as sent.
    pub body: String,
    /// `Wechatpay-Timestamp`.
    pub timestamp: i64,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature`: base64 SHA256withRSA over `TIMESTAMP\nNONCE\nBODY\n`.
    pub signature: String,
    /// `Wechatpay-Serial`: the WeChat Pay public key id.
    pub serial: String,
    key: Arc<RsaPrivateKey>,
}

impl SignedNotification {
    fn signed(key: Arc<RsaPrivateKey>, serial: String, body: String, timestamp: i64) -> Self {
        let nonce = alphanumerics(32);
        let signature = sign(&key, &response_message(timestamp, &nonce, &body));
        SignedNotification {
            body,
            timestamp,
            nonce,
            signature,
            serial,
            key,
        }
    }

    /// The envelope, parsed.
    pub fn notification(&self) -> Notification {
        serde_json::from_str(&self.body).expect("the stand-in writes valid notifications")
    }

    /// The headers WeChat sends with a notification (besides `Content-Type: application/json`).
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (crate::HEADER_TIMESTAMP, self.timestamp.to_string()),
            (crate::HEADER_NONCE, self.nonce.clone()),
            (crate::HEADER_SIGNATURE, self.signature.clone()),
            (crate::HEADER_SERIAL, self.serial.clone()),
            (crate::HEADER_SIGNATURE_TYPE, AUTH_SCHEME.to_owned()),
            (
                crate::HEADER_REQUEST_ID,
                format!("standin-{}", alphanumerics(16)),
            ),
        ]
    }

    /// The notification as an HTTP request to `uri`, for `tower::ServiceExt::oneshot` on a router.
    pub fn http_request(&self, uri: &str) -> Request<Body> {
        let mut request = Request::post(uri).header("content-type", "application/json");
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        request
            .body(Body::from(self.body.clone()))
            .expect("notification headers are valid")
    }

    /// POSTs the notification to `url` as WeChat does; returns the status and the answer's body.
    /// Panics if `url` cannot be reached.
    pub async fn send(&self, url: &str) -> (u16, String) {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(self.body.clone());
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("stand-in: cannot POST the notification to {url}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// The same headers with another body, re-signed (a validly signed but altered message).
    pub fn with_body(&self, body: impl Into<String>) -> Self {
        Self::signed(
            self.key.clone(),
            self.serial.clone(),
            body.into(),
            self.timestamp,
        )
    }

    /// The same body signed at another time, e.g. an hour ago (a replay).
    pub fn with_timestamp(&self, timestamp: i64) -> Self {
        Self::signed(
            self.key.clone(),
            self.serial.clone(),
            self.body.clone(),
            timestamp,
        )
    }

    /// The same body signed by another key (a forger who does not hold WeChat's key).
    pub fn signed_by(&self, key: &RsaPrivateKey) -> Self {
        Self::signed(
            Arc::new(key.clone()),
            self.serial.clone(),
            self.body.clone(),
            self.timestamp,
        )
    }

    /// The same message with this `Wechatpay-Signature`, not re-signed.
    pub fn with_signature(&self, signature: impl Into<String>) -> Self {
        Self {
            signature: signature.into(),
            ..self.clone()
        }
    }

    /// The same message naming another key id in `Wechatpay-Serial`, not re-signed.
    pub fn with_serial(&self, serial: impl Into<String>) -> Self {
        Self {
            serial: serial.into(),
            ..self.clone()
        }
    }
}

impl StandIn {
    /// `TRANSACTION.SUCCESS` for an order (normally after [`StandIn::pay`]); its resource is
    /// the order as the query answers it. Panics on an unknown order.
    pub fn transaction_notification(&self, out_trade_no: &str) -> SignedNotification {
        let tx = self
            .transaction(out_trade_no)
            .unwrap_or_else(|| panic!("stand-in: no order {out_trade_no}"));
        let plaintext = serde_json::to_string(&tx).expect("a transaction serialises");
        self.notification("TRANSACTION.SUCCESS", "支付成功", "transaction", &plaintext)
    }

    /// `REFUND.SUCCESS`, `REFUND.ABNORMAL` or `REFUND.CLOSED` for a settled refund (see
    /// [`StandIn::refund_settles`]), with the refund notification's fields (`refund_status`).
    /// Panics on an unknown or still processing refund.
    pub fn refund_notification(&self, out_refund_no: &str) -> SignedNotification {
        let r = self
            .refund(out_refund_no)
            .unwrap_or_else(|| panic!("stand-in: no refund {out_refund_no}"));
        let summary = match r.status.as_str() {
            "SUCCESS" => "退款成功",
            "ABNORMAL" => "退款异常",
            "CLOSED" => "退款关闭",
            other => {
                panic!("stand-in: refund {out_refund_no} is {other}; call refund_settles first")
            }
        };
        let mut resource = json!({
            "mchid": self.config().mchid,
            "out_trade_no": r.out_trade_no,
            "transaction_id": r.transaction_id,
            "out_refund_no": r.out_refund_no,
            "refund_id": r.refund_id,
            "refund_status": r.status,
            "user_received_account": r.user_received_account,
            "amount": {
                "total": r.amount.total,
                "refund": r.amount.refund,
                "payer_total": r.amount.payer_total,
                "payer_refund": r.amount.payer_refund,
            },
        });
        if let Some(time) = &r.success_time {
            resource["success_time"] = json!(time);
        }
        let event = format!("REFUND.{}", r.status);
        self.notification(&event, summary, "refund", &resource.to_string())
    }

    /// `MCHTRANSFER.BILL.FINISHED` for a transfer bill in a final state (see
    /// [`StandIn::confirm_transfer`], [`StandIn::transfer_ends`] and the cancel endpoint), with
    /// the notification's fields (`mch_id`, no `appid`, `transfer_remark` or `package_info`),
    /// sealed with associated data `mch_payment`. Panics on an unknown or unfinished bill.
    pub fn transfer_notification(&self, out_bill_no: &str) -> SignedNotification {
        let bill = self
            .transfer_bill(out_bill_no)
            .unwrap_or_else(|| panic!("stand-in: no transfer bill {out_bill_no}"));
        assert!(
            bill.is_final(),
            "stand-in: transfer bill {out_bill_no} is {}; WeChat notifies final states only",
            bill.state
        );
        let mut resource = json!({
            "out_bill_no": bill.out_bill_no,
            "transfer_bill_no": bill.transfer_bill_no,
            "state": bill.state,
            "mch_id": bill.mch_id,
            "transfer_amount": bill.transfer_amount,
            "openid": bill.openid,
            "create_time": bill.create_time,
            "update_time": bill.update_time,
        });
        if let Some(reason) = &bill.fail_reason {
            resource["fail_reason"] = json!(reason);
        }
        self.notification(
            TRANSFER_BILL_FINISHED,
            "商家转账单据终态通知",
            TRANSFER_BILL_RESOURCE_TYPE,
            &resource.to_string(),
        )
    }

    fn notification(
        &self,
        event_type: &str,
        summary: &str,
        original_type: &str,
        plaintext: &str,
    ) -> SignedNotification {
        let config = self.config();
        let nonce = alphanumerics(12);
        let ciphertext = encrypt_resource(
            &config.api_v3_key,
            &nonce,
            original_type,
            plaintext.as_bytes(),
        )
        .expect("a 32-byte key and 12-byte nonce encrypt");
        let envelope = Notification {
            id: format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12)),
            create_time: beijing_now(RFC3339),
            event_type: event_type.into(),
            resource_type: "encrypt-resource".into(),
            summary: summary.into(),
            resource: NotificationResource {
                algorithm: RESOURCE_ALGORITHM.into(),
                ciphertext,
                associated_data: Some(original_type.into()),
                original_type: original_type.into(),
                nonce,
            },
        };
        let body = serde_json::to_string(&envelope).expect("a notification serialises");
        SignedNotification::signed(
            self.inner.platform_key.clone(),
            config.platform_public_key_id.clone(),
            body,
            now_secs(),
        )
    }
}
