//! The JSON WeChat Pay v3 sends, with WeChat's field names. Unknown fields are ignored, so new
//! fields on WeChat's side do not break parsing; absent optional fields are not serialised.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{decrypt_resource, Error};

/// A callback notification's envelope (回调通知): what WeChat POSTs to `notify_url`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The notification's unique id (通知ID), e.g. `EV-2018022511223320873`.
    pub id: String,
    /// When WeChat created it, RFC 3339 with +08:00.
    pub create_time: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`, …
    pub event_type: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// A human summary such as `支付成功`.
    pub summary: String,
    /// The encrypted payload.
    pub resource: NotificationResource,
}

/// The encrypted part of a notification (通知数据), sealed with the API v3 key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationResource {
    /// `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64 of ciphertext‖tag.
    pub ciphertext: String,
    /// Associated data of the AEAD, e.g. `transaction` or `refund`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub associated_data: Option<String>,
    /// The resource's type before encryption: `transaction` or `refund`.
    pub original_type: String,
    /// The 12-character AEAD nonce.
    pub nonce: String,
}

/// The algorithm of every v3 notification resource.
pub const RESOURCE_ALGORITHM: &str = "AEAD_AES_256_GCM";

impl Notification {
    /// Decrypts the resource and parses it, e.g. as a [`Transaction`] for `TRANSACTION.*` or a
    /// [`Refund`] for `REFUND.*`. Verify the notification's signature before trusting it.
    pub fn decrypt<T: DeserializeOwned>(&self, api_v3_key: &[u8]) -> Result<T, Error> {
        let r = &self.resource;
        if r.algorithm != RESOURCE_ALGORITHM {
            return Err(Error::Malformed(format!(
                "unknown resource algorithm {}",
                r.algorithm
            )));
        }
        let ad = r.associated_data.as_deref().unwrap_or("");
        let plain = decrypt_resource(api_v3_key, &r.nonce, ad, &r.ciphertext)?;
        serde_json::from_slice(&plain)
            .map_err(|e| Error::Malformed(format!("decrypted {} resource: {e}", r.original_type)))
    }
}

/// A payment order (订单) as the order query answers and `TRANSACTION.SUCCESS` carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The mini-program's AppID (应用ID).
    pub appid: String,
    /// 商户号.
    pub mchid: String,
    /// The merchant's order number (商户订单号).
    pub out_trade_no: String,
    /// WeChat's order number (微信支付订单号), once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// `JSAPI`, `NATIVE`, … (交易类型).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// `SUCCESS`, `REFUND`, `NOTPAY`, `CLOSED`, `REVOKED`, `USERPAYING`, `PAYERROR` (交易状态).
    pub trade_state: String,
    /// Description of the state, e.g. `支付成功`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_state_desc: Option<String>,
    /// The payer's bank (付款银行), e.g. `CMC`, `OTHERS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<String>,
    /// The merchant's data attached at order time (附加数据).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// When the payment completed (支付完成时间), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// Who pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    /// Amounts in fen (分).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<TransactionAmount>,
}

/// The payer of an order (支付者).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The shopper's openid under the order's AppID (may be absent before payment).
    #[serde(default)]
    pub openid: String,
}

/// An order's amounts (订单金额), in fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// Order total (总金额).
    pub total: i64,
    /// What the shopper actually paid after coupons (用户支付金额), once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    /// Order currency; only `CNY` for domestic merchants (WeChat omits it on some unpaid orders).
    #[serde(default = "cny")]
    pub currency: String,
    /// The shopper's currency (用户支付币种).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_currency: Option<String>,
}

fn cny() -> String {
    "CNY".to_owned()
}

/// A refund (退款单) as the refund APIs answer it (`status`) and `REFUND.*` notifications carry
/// it (`refund_status`, read into the same field).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// 商户号 (notifications only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mchid: Option<String>,
    /// The refunded order's 商户订单号.
    pub out_trade_no: String,
    /// The refunded order's 微信支付订单号.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The merchant's refund number (商户退款单号).
    pub out_refund_no: String,
    /// WeChat's refund number (微信支付退款单号).
    pub refund_id: String,
    /// `SUCCESS`, `CLOSED`, `PROCESSING`, `ABNORMAL` (退款状态).
    #[serde(alias = "refund_status")]
    pub status: String,
    /// Refund channel (退款渠道): `ORIGINAL`, `BALANCE`, `OTHER_BALANCE`, `OTHER_BANKCARD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Where the money went back to (退款入账账户), e.g. `支付用户零钱`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_received_account: Option<String>,
    /// When the refund succeeded (退款成功时间), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// When the refund was accepted (退款创建时间), RFC 3339 (API answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// Which merchant account funds it (资金账户): `UNSETTLED`, `AVAILABLE`, … (API answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funds_account: Option<String>,
    /// Amounts in fen.
    pub amount: RefundAmount,
}

/// A refund's amounts (金额信息), in fen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// The original order's total (订单金额).
    pub total: i64,
    /// The amount refunded (退款金额).
    pub refund: i64,
    /// What the shopper paid (用户支付金额).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    /// What goes back to the shopper, coupons excluded (用户退款金额).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_refund: Option<i64>,
    /// Refund amount after non-cash coupons (应结退款金额) (API answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_refund: Option<i64>,
    /// Order amount after non-cash coupons (应结订单金额) (API answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_total: Option<i64>,
    /// Coupon part of the refund (优惠退款金额) (API answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_refund: Option<i64>,
    /// `CNY` (API answers; absent from notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// WeChat's error body (错误应答), e.g. `{"code":"PARAM_ERROR","message":"…"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("WeChat Pay {code}: {message}")]
pub struct ApiError {
    /// The error code (错误码): `PARAM_ERROR`, `SIGN_ERROR`, `ORDER_NOT_EXIST`, …
    pub code: String,
    /// A human message, usually Chinese.
    pub message: String,
    /// Where a parameter error is (`{"location":"body","value":…}`), when WeChat says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encrypt_resource;

    // The JSON examples below are those of WeChat Pay's v3 documentation (支付成功回调通知,
    // 查询订单, 申请退款, 退款结果通知), trimmed of promotion details.

    #[test]
    fn reads_a_transaction_notification_and_its_resource() {
        let key = b"0123456789abcdef0123456789abcdef";
        let plain = r#"{"transaction_id":"1217752501201407033233368018","amount":{"payer_total":100,"total":100,"currency":"CNY","payer_currency":"CNY"},"mchid":"1230000109","trade_state":"SUCCESS","bank_type":"CMC","promotion_detail":[],"success_time":"2018-06-08T10:34:56+08:00","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"out_trade_no":"1217752501201407033233368018","appid":"wxd678efh567hg6787","trade_state_desc":"支付成功","trade_type":"MICROPAY","attach":"自定义数据","scene_info":{"device_id":"013467007045764"}}"#;
        let ciphertext =
            encrypt_resource(key, "fdasflkja484", "transaction", plain.as_bytes()).unwrap();
        let body = format!(
            r#"{{"id":"EV-2018022511223320873","create_time":"2015-05-20T13:29:35+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"{ciphertext}","associated_data":"transaction","nonce":"fdasflkja484"}}}}"#
        );
        let notification: Notification = serde_json::from_str(&body).unwrap();
        assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
        let tx: Transaction = notification.decrypt(key).unwrap();
        assert_eq!(tx.trade_state, "SUCCESS");
        assert_eq!(tx.payer.unwrap().openid, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
        let amount = tx.amount.unwrap();
        assert_eq!(
            (amount.total, amount.payer_total, amount.currency.as_str()),
            (100, Some(100), "CNY")
        );
        assert_eq!(
            notification.decrypt::<Transaction>(b"0123456789abcdef0123456789abcdeF"),
            Err(Error::Decrypt)
        );
    }

    #[test]
    fn reads_an_unpaid_order_without_optional_fields() {
        let json = r#"{"amount":{"payer_currency":"CNY","total":100},"appid":"wx1","mchid":"1","out_trade_no":"abc123","payer":{},"trade_state":"NOTPAY","trade_state_desc":"订单未支付"}"#;
        let tx: Transaction = serde_json::from_str(json).unwrap();
        assert_eq!(
            (tx.transaction_id, tx.amount.unwrap().currency),
            (None, "CNY".to_owned())
        );
    }

    #[test]
    fn reads_refunds_from_api_answers_and_notifications() {
        let answer = r#"{"refund_id":"50000000382019052709732678859","out_refund_no":"1217752501201407033233368018","transaction_id":"1217752501201407033233368018","out_trade_no":"1217752501201407033233368018","channel":"ORIGINAL","user_received_account":"招商银行信用卡0403","success_time":"2020-12-01T16:18:12+08:00","create_time":"2020-12-01T16:18:12+08:00","status":"SUCCESS","funds_account":"UNSETTLED","amount":{"total":100,"refund":100,"from":[{"account":"AVAILABLE","amount":444}],"payer_total":90,"payer_refund":90,"settlement_refund":100,"settlement_total":100,"discount_refund":10,"currency":"CNY","refund_fee":100},"promotion_detail":[]}"#;
        let refund: Refund = serde_json::from_str(answer).unwrap();
        assert_eq!(
            (refund.status.as_str(), refund.amount.payer_refund),
            ("SUCCESS", Some(90))
        );

        let notified = r#"{"mchid":"1900000100","transaction_id":"1008450740201411110005820873","out_trade_no":"20150806125346","refund_id":"50200207182018070300011301001","out_refund_no":"7752501201407033233368018","refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00","user_received_account":"招商银行信用卡0403","amount":{"total":999,"refund":999,"payer_total":999,"payer_refund":999}}"#;
        let refund: Refund = serde_json::from_str(notified).unwrap();
        assert_eq!(
            (refund.status.as_str(), refund.amount.currency),
            ("SUCCESS", None)
        );
        assert_eq!(refund.mchid.as_deref(), Some("1900000100"));
    }

    #[test]
    fn reads_error_bodies() {
        let e: ApiError = serde_json::from_str(
            r#"{"code":"PARAM_ERROR","detail":{"location":"body","value":7},"message":"参数错误"}"#,
        )
        .unwrap();
        assert_eq!(e.to_string(), "WeChat Pay PARAM_ERROR: 参数错误");
        let e: ApiError =
            serde_json::from_str(r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"SYSTEM_ERROR","message":"系统错误"}"#
        );
    }
}
