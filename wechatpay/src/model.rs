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

/// `event_type` of the merchant-transfer notification (商家转账回调通知, 用户确认模式): a bill
/// reached a final state (`SUCCESS`, `FAIL` or `CANCELLED`). Its resource is a [`TransferBill`].
pub const TRANSFER_BILL_FINISHED: &str = "MCHTRANSFER.BILL.FINISHED";

/// `original_type` and associated data of the [`TRANSFER_BILL_FINISHED`] resource.
pub const TRANSFER_BILL_RESOURCE_TYPE: &str = "mch_payment";

/// 发起转账 (`POST /v3/fund-app/mch-transfer/transfer-bills`), merchant transfer in
/// user-confirmation mode (商家转账 用户确认模式): WeChat answers a [`TransferBill`] in
/// `WAIT_USER_CONFIRM` with a `package_info` for `wx.requestMerchantTransfer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferBillRequest {
    /// The AppID bound to the merchant (商户AppID) under which `openid` was issued.
    pub appid: String,
    /// The merchant's bill number (商户单号): at most 32 digits and ASCII letters, unique per
    /// merchant. Retry with the same number and the same content; never a new number until a
    /// query says the first one failed.
    pub out_bill_no: String,
    /// 转账场景ID granted to the merchant, e.g. `1000` (现金营销), `1005` (佣金报酬).
    pub transfer_scene_id: String,
    /// The payee's openid under `appid` (收款用户OpenID).
    pub openid: String,
    /// The payee's real name (收款用户姓名), RSA-encrypted with WeChat Pay's public key, base64;
    /// send `Wechatpay-Serial` with the key id. Required from 2,000 yuan (200,000 fen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Amount in fen (转账金额, 分), within the merchant's per-bill limits (default 0.1–200 yuan).
    pub transfer_amount: i64,
    /// Shown to the payee (转账备注): at most 32 characters.
    pub transfer_remark: String,
    /// Where `MCHTRANSFER.BILL.FINISHED` goes (通知地址): https, no query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// What the payee sees the money as (用户收款感知), e.g. `现金奖励`, `佣金报酬`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_recv_perception: Option<String>,
    /// The scene's fixed report items (转账场景报备信息), e.g. for `1000` exactly `活动名称` and
    /// `奖励说明`.
    pub transfer_scene_report_infos: Vec<TransferSceneReportInfo>,
}

/// One report item of a transfer scene (转账场景报备信息).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferSceneReportInfo {
    /// The item's fixed name (信息类型), e.g. `活动名称`.
    pub info_type: String,
    /// Its content (信息内容), e.g. `新会员有礼`.
    pub info_content: String,
}

/// A merchant-transfer bill (商家转账单) as 发起转账 answers it (`out_bill_no`,
/// `transfer_bill_no`, `create_time`, `state`, `package_info`), as 商户单号查询转账单 answers it
/// (no `package_info`), as 撤销转账 answers it (`out_bill_no`, `transfer_bill_no`, `state`,
/// `update_time`), and as the `MCHTRANSFER.BILL.FINISHED` resource carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferBill {
    /// 商户号 (query answers and notifications; some notifications spell it `mchid`).
    #[serde(default, alias = "mchid", skip_serializing_if = "Option::is_none")]
    pub mch_id: Option<String>,
    /// The merchant's bill number (商户单号).
    pub out_bill_no: String,
    /// WeChat's bill number (微信转账单号).
    pub transfer_bill_no: String,
    /// 商户AppID (query answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// 单据状态: `ACCEPTED`, `PROCESSING`, `WAIT_USER_CONFIRM`, `TRANSFERING` (WeChat's
    /// spelling), `SUCCESS`, `FAIL`, `CANCELING`, `CANCELLED`. Final: `SUCCESS`, `FAIL`,
    /// `CANCELLED` (see [`TransferBill::is_final`]).
    pub state: String,
    /// Amount in fen (转账金额) (query answers and notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_amount: Option<i64>,
    /// 转账备注 (query answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_remark: Option<String>,
    /// Why it failed (失败原因), e.g. `TRANSFER_RISK`, `MCH_CANCEL`, `OVERDUE_CLOSE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// 收款用户OpenID (query answers and notifications).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// What the mini-program passes as `package` to `wx.requestMerchantTransfer` (跳转领取页面的
    /// package信息): 发起转账 answers only, while `WAIT_USER_CONFIRM`. Opaque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_info: Option<String>,
    /// When the bill was created (单据创建时间), RFC 3339 (absent from cancel answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// When its state last changed (最后一次状态变更时间), RFC 3339 (absent from create answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
}

impl TransferBill {
    /// Whether the state is final (`SUCCESS`, `FAIL`, `CANCELLED`): only then does WeChat send
    /// `MCHTRANSFER.BILL.FINISHED`. Any other state may still end either way.
    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "SUCCESS" | "FAIL" | "CANCELLED")
    }
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

    // 发起转账, 商户单号查询转账单, 撤销转账 and 商家转账回调通知 of the merchant-transfer docs
    // (用户确认模式), with placeholders where the docs elide values.
    #[test]
    fn reads_transfer_bills_from_every_answer_and_the_notification() {
        let created: TransferBill = serde_json::from_str(r#"{"out_bill_no":"plfk2020042013","transfer_bill_no":"1330000071100999991182020050700019480001","create_time":"2015-05-20T13:29:35.120+08:00","state":"WAIT_USER_CONFIRM","package_info":"affffddafdfafddffda=="}"#).unwrap();
        assert_eq!(
            (created.state.as_str(), created.package_info.as_deref()),
            ("WAIT_USER_CONFIRM", Some("affffddafdfafddffda=="))
        );
        assert!(!created.is_final() && created.update_time.is_none());

        let queried: TransferBill = serde_json::from_str(r#"{"mch_id":"1900001109","out_bill_no":"plfk2020042013","transfer_bill_no":"1330000071100999991182020050700019480001","appid":"wxf636efh567hg4356","state":"SUCCESS","transfer_amount":400000,"transfer_remark":"2020年4月报销","fail_reason":"PAYEE_ACCOUNT_ABNORMAL","openid":"o-MYE42l80oelYMDE34nYD456Xoy","user_name":"757b340b45ebef5467rter35gf464344v3542sdf4t6re4tb4f54ty45t4yyry45","create_time":"2015-05-20T13:29:35.120+08:00","update_time":"2015-05-20T13:29:35.120+08:00"}"#).unwrap();
        assert_eq!(
            (queried.mch_id.as_deref(), queried.transfer_amount),
            (Some("1900001109"), Some(400000))
        );
        assert!(queried.is_final() && queried.package_info.is_none());

        let cancelled: TransferBill = serde_json::from_str(r#"{"out_bill_no":"plfk2020042013","transfer_bill_no":"1330000071100999991182020050700019480001","state":"CANCELING","update_time":"2015-05-20T13:29:35.120+08:00"}"#).unwrap();
        assert_eq!(
            (cancelled.state.as_str(), cancelled.create_time),
            ("CANCELING", None)
        );

        let key = b"0123456789abcdef0123456789abcdef";
        let plain = r#"{"out_bill_no":"plfk2020042013","transfer_bill_no":"1330000071100999991182020050700019480001","state":"FAIL","mchid":"1900001109","transfer_amount":2000,"openid":"o-MYE42l80oelYMDE34nYD456Xoy","fail_reason":"TRANSFER_RISK","create_time":"2015-05-20T13:29:35.120+08:00","update_time":"2015-05-20T13:29:35.120+08:00"}"#;
        let ciphertext =
            encrypt_resource(key, "wsSDmYr377VK", "mch_payment", plain.as_bytes()).unwrap();
        let body = format!(
            r#"{{"id":"3f2b9c1e-7a4d-5e60-8b1f-0c9d2e4a6b71","create_time":"2025-04-07T15:09:07+08:00","resource_type":"encrypt-resource","event_type":"MCHTRANSFER.BILL.FINISHED","summary":"商家转账单据终态通知","resource":{{"original_type":"mch_payment","algorithm":"AEAD_AES_256_GCM","ciphertext":"{ciphertext}","associated_data":"mch_payment","nonce":"wsSDmYr377VK"}}}}"#
        );
        let notification: Notification = serde_json::from_str(&body).unwrap();
        assert_eq!(notification.event_type, TRANSFER_BILL_FINISHED);
        assert_eq!(
            notification.resource.original_type,
            TRANSFER_BILL_RESOURCE_TYPE
        );
        let bill: TransferBill = notification.decrypt(key).unwrap();
        assert_eq!(
            (
                bill.state.as_str(),
                bill.mch_id.as_deref(),
                bill.fail_reason.as_deref()
            ),
            ("FAIL", Some("1900001109"), Some("TRANSFER_RISK"))
        );
    }

    #[test]
    fn writes_a_transfer_request_with_wechats_field_names() {
        let request = TransferBillRequest {
            appid: "wxf636efh567hg4356".into(),
            out_bill_no: "plfk2020042013".into(),
            transfer_scene_id: "1000".into(),
            openid: "o-MYE42l80oelYMDE34nYD456Xoy".into(),
            user_name: None,
            transfer_amount: 400,
            transfer_remark: "新会员有礼".into(),
            notify_url: Some("https://www.weixin.qq.com/wxpay/pay.php".into()),
            user_recv_perception: Some("现金奖励".into()),
            transfer_scene_report_infos: vec![
                TransferSceneReportInfo {
                    info_type: "活动名称".into(),
                    info_content: "新会员有礼".into(),
                },
                TransferSceneReportInfo {
                    info_type: "奖励说明".into(),
                    info_content: "注册会员抽奖一等奖".into(),
                },
            ],
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "appid": "wxf636efh567hg4356", "out_bill_no": "plfk2020042013",
                "transfer_scene_id": "1000", "openid": "o-MYE42l80oelYMDE34nYD456Xoy",
                "transfer_amount": 400, "transfer_remark": "新会员有礼",
                "notify_url": "https://www.weixin.qq.com/wxpay/pay.php",
                "user_recv_perception": "现金奖励",
                "transfer_scene_report_infos": [
                    { "info_type": "活动名称", "info_content": "新会员有礼" },
                    { "info_type": "奖励说明", "info_content": "注册会员抽奖一等奖" },
                ],
            })
        );
        assert_eq!(
            serde_json::from_value::<TransferBillRequest>(json).unwrap(),
            request
        );
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
