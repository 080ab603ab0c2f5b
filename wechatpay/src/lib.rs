//! WeChat Pay API v3 for a direct merchant (直连商户), the protocol layer.
//!
//! Everything here is a plain function over strings, bytes and keys: no clocks, no sockets. The
//! gateway's HTTP client and notification handler call these; tests call them directly.
//!
//! - [`keys`]: the merchant's API private key (`apiclient_key.pem`) and WeChat Pay's public key
//!   (微信支付公钥, `pub_key.pem`).
//! - [`mod@sign`]: request signatures (`Authorization`), response and notification signatures
//!   (`Wechatpay-Signature`), and the `wx.requestPayment` parameters.
//! - [`aead`]: the AEAD_AES_256_GCM envelope of notification resources (API v3 key).
//! - [`model`]: the JSON WeChat sends: notifications, transactions, refunds, merchant transfers
//!   (商家转账), errors.
//! - `standin` (feature `standin`): a WeChat Pay server for tests that speaks the real protocol.

#![warn(missing_docs)]

pub mod aead;
pub mod keys;
pub mod model;
pub mod sign;
#[cfg(feature = "standin")]
pub mod standin;
#[cfg(any(test, feature = "standin"))]
pub mod test_keys;

pub use aead::{decrypt_resource, encrypt_resource};
pub use keys::{parse_private_key, parse_public_key, public_key_pem};
pub use model::{
    ApiError, Notification, NotificationResource, Payer, Refund, RefundAmount, Transaction,
    TransactionAmount, TransferBill, TransferBillRequest, TransferSceneReportInfo,
    TRANSFER_BILL_FINISHED,
};
pub use sign::{
    authorization, nonce, parse_authorization, request_message, request_payment, response_message,
    sign, verify, verify_response, within_clock_skew, AuthorizationHeader, RequestPayment,
};

/// Production host of WeChat Pay API v3 (主域名); `api2.mch.weixin.qq.com` is the backup.
pub const API_BASE_URL: &str = "https://api.mch.weixin.qq.com";
/// The scheme of the `Authorization` header and the value of `Wechatpay-Signature-Type`.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";
/// Response and notification header: seconds since the epoch when WeChat signed.
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
/// Response and notification header: the random string WeChat signed with.
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
/// Response and notification header: base64 SHA256withRSA over [`response_message`].
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
/// Response and notification header: the id of the WeChat Pay public key (`PUB_KEY_ID_…`) or
/// platform certificate serial that signed.
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
/// Response and notification header: the signature algorithm, [`AUTH_SCHEME`].
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";
/// Response header: WeChat's id for the request, to quote when asking WeChat support.
pub const HEADER_REQUEST_ID: &str = "Request-ID";
/// How far WeChat's timestamp may be from ours, as the official SDKs check (5 minutes).
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

/// What can go wrong in the protocol layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A key that is not a usable RSA key in a supported PEM form, or an API v3 key that is not
    /// 32 bytes.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The signature is well formed but was not made over this message by this key.
    #[error("the signature does not match the message and key")]
    BadSignature,
    /// AES-256-GCM refused the ciphertext: wrong API v3 key, nonce or associated data, or the
    /// ciphertext was altered.
    #[error("the resource could not be decrypted with this API v3 key, nonce and associated data")]
    Decrypt,
    /// Input that does not have the shape WeChat Pay uses (bad base64, header, JSON, …).
    #[error("malformed input: {0}")]
    Malformed(String),
}
