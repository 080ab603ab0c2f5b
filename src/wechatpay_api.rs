//! The WeChat Pay API v3 calls the gateway makes for a merchant: each request signed with
//! the merchant's key (`WECHATPAY2-SHA256-RSA2048`), each answer's signature checked with the
//! platform public key before it is believed. The protocol itself (signatures, AES-GCM,
//! message shapes) is the `wechatpay` crate, which does no I/O.

use std::time::Duration;

use entity::wechat_pay_account;
use reqwest::{Method, StatusCode};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::Value;
use wechatpay::{ApiError, Refund, Transaction, TransferBill};

use crate::{
    error::{AppError, AppResult},
    secrets::SecretBox,
};

/// A merchant's WeChat Pay account, its secrets opened.
pub struct PayAccount {
    pub merchant_id: i64,
    pub mchid: String,
    pub serial_no: String,
    pub private_key: RsaPrivateKey,
    pub api_v3_key: Vec<u8>,
    pub platform_key_id: String,
    pub platform_key: RsaPublicKey,
}

impl PayAccount {
    pub fn open(row: &wechat_pay_account::Model, secrets: &SecretBox) -> AppResult<Self> {
        let pem = String::from_utf8(secrets.open(&row.private_key_sealed)?)
            .map_err(|e| AppError::Internal(e.into()))?;
        let private_key = wechatpay::parse_private_key(&pem)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored private key: {e}")))?;
        let platform_key = wechatpay::parse_public_key(&row.platform_public_key_pem)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored platform key: {e}")))?;
        Ok(Self {
            merchant_id: row.merchant_id,
            mchid: row.mchid.clone(),
            serial_no: row.merchant_serial_no.clone(),
            private_key,
            api_v3_key: secrets.open(&row.api_v3_key_sealed)?,
            platform_key_id: row.platform_public_key_id.clone(),
            platform_key,
        })
    }
}

/// Why a call did not give an answer to act on.
#[derive(Debug, thiserror::Error)]
pub enum PayError {
    /// WeChat answered with an error (`{"code": …, "message": …}`).
    #[error("WeChat Pay refused: {code} ({message})")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer, or one whose signature does not verify: the outcome is unknown.
    #[error("WeChat Pay could not be reached: {0}")]
    Unreachable(String),
}

impl PayError {
    /// WeChat's own error code, if it answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            Self::Unreachable(_) => None,
        }
    }

    /// WeChat's `SYSTEM_ERROR`, a 5xx, or no answer: the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Refused { status, code, .. } => *status >= 500 || code == "SYSTEM_ERROR",
            Self::Unreachable(_) => true,
        }
    }
}

impl From<PayError> for AppError {
    fn from(err: PayError) -> Self {
        if err.is_transient() {
            tracing::warn!(error = %err, "WeChat Pay call failed");
            AppError::Unavailable("WeChat Pay is briefly unavailable; try again in a moment".into())
        } else {
            AppError::Internal(anyhow::anyhow!("{err}"))
        }
    }
}

/// Calls WeChat Pay at `WECHATPAY_API_BASE`.
#[derive(Clone)]
pub struct PayClient {
    http: reqwest::Client,
    base: String,
}

impl PayClient {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// One signed call; the answer's body once its signature verifies. `None`: 404.
    async fn call(
        &self,
        account: &PayAccount,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<String>, PayError> {
        let body_text = body.map(Value::to_string).unwrap_or_default();
        let timestamp = chrono::Utc::now().timestamp();
        let nonce = wechatpay::nonce();
        let authorization = wechatpay::authorization(
            &account.mchid,
            &account.serial_no,
            &account.private_key,
            method.as_str(),
            path,
            timestamp,
            &nonce,
            &body_text,
        );
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", authorization)
            .header("Accept", "application/json")
            .header("User-Agent", concat!("fenhong/", env!("CARGO_PKG_VERSION")));
        if body.is_some() {
            request = request
                .header("Content-Type", "application/json")
                .body(body_text);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PayError::Unreachable(e.to_string()))?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (serial, signature, signed_at, signed_nonce) = (
            header("Wechatpay-Serial"),
            header("Wechatpay-Signature"),
            header("Wechatpay-Timestamp"),
            header("Wechatpay-Nonce"),
        );
        let text = response
            .text()
            .await
            .map_err(|e| PayError::Unreachable(e.to_string()))?;
        // Every answer WeChat signs (errors included); one that does not verify is not
        // WeChat's and is not acted on.
        let verified = match (serial, signature, signed_at, signed_nonce) {
            (Some(serial), Some(signature), Some(at), Some(nonce))
                if serial == account.platform_key_id =>
            {
                at.parse::<i64>().ok().is_some_and(|at| {
                    wechatpay::verify_response(&account.platform_key, at, &nonce, &text, &signature)
                        .is_ok()
                })
            }
            _ => false,
        };
        if !verified {
            return Err(PayError::Unreachable(format!(
                "an answer ({status}) whose signature does not verify"
            )));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let error: ApiError = serde_json::from_str(&text).unwrap_or(ApiError {
                code: format!("HTTP_{}", status.as_u16()),
                message: text.chars().take(200).collect(),
                detail: None,
            });
            return Err(PayError::Refused {
                status: status.as_u16(),
                code: error.code,
                message: error.message,
            });
        }
        Ok(Some(text))
    }

    fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, PayError> {
        serde_json::from_str(text)
            .map_err(|e| PayError::Unreachable(format!("an answer that does not parse: {e}")))
    }

    /// `POST /v3/pay/transactions/jsapi`: the prepay id.
    pub async fn jsapi(&self, account: &PayAccount, body: &Value) -> Result<String, PayError> {
        let text = self
            .call(
                account,
                Method::POST,
                "/v3/pay/transactions/jsapi",
                Some(body),
            )
            .await?
            .ok_or_else(|| PayError::Unreachable("jsapi answered 404".into()))?;
        let answer: Value = Self::parse(&text)?;
        answer["prepay_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| PayError::Unreachable("no prepay_id in the answer".into()))
    }

    /// `GET /v3/pay/transactions/out-trade-no/{out_trade_no}`; `None` if WeChat has none.
    pub async fn transaction(
        &self,
        account: &PayAccount,
        out_trade_no: &str,
    ) -> Result<Option<Transaction>, PayError> {
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}",
            account.mchid
        );
        match self.call(account, Method::GET, &path, None).await {
            Ok(Some(text)) => Self::parse(&text).map(Some),
            Ok(None) => Ok(None),
            Err(PayError::Refused { code, .. }) if code == "ORDER_NOT_EXIST" => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`.
    pub async fn close(&self, account: &PayAccount, out_trade_no: &str) -> Result<(), PayError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        let body = serde_json::json!({ "mchid": account.mchid });
        self.call(account, Method::POST, &path, Some(&body))
            .await
            .map(|_| ())
    }

    /// `POST /v3/refund/domestic/refunds`.
    pub async fn refund(&self, account: &PayAccount, body: &Value) -> Result<Refund, PayError> {
        let text = self
            .call(
                account,
                Method::POST,
                "/v3/refund/domestic/refunds",
                Some(body),
            )
            .await?
            .ok_or_else(|| PayError::Unreachable("refunds answered 404".into()))?;
        Self::parse(&text)
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`; `None` if WeChat has none.
    pub async fn refund_status(
        &self,
        account: &PayAccount,
        out_refund_no: &str,
    ) -> Result<Option<Refund>, PayError> {
        let path = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        match self.call(account, Method::GET, &path, None).await {
            Ok(Some(text)) => Self::parse(&text).map(Some),
            Ok(None) => Ok(None),
            Err(PayError::Refused { code, .. }) if code == "RESOURCE_NOT_EXISTS" => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `POST /v3/fund-app/mch-transfer/transfer-bills` (商家转账, user confirmation).
    pub async fn transfer(
        &self,
        account: &PayAccount,
        body: &Value,
    ) -> Result<TransferBill, PayError> {
        let path = "/v3/fund-app/mch-transfer/transfer-bills";
        let text = self
            .call(account, Method::POST, path, Some(body))
            .await?
            .ok_or_else(|| PayError::Unreachable("transfer-bills answered 404".into()))?;
        Self::parse(&text)
    }

    /// `GET …/transfer-bills/out-bill-no/{out_bill_no}`; `None` if WeChat has none.
    pub async fn transfer_bill(
        &self,
        account: &PayAccount,
        out_bill_no: &str,
    ) -> Result<Option<TransferBill>, PayError> {
        let path = format!("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}");
        match self.call(account, Method::GET, &path, None).await {
            Ok(Some(text)) => Self::parse(&text).map(Some),
            Ok(None) => Ok(None),
            Err(PayError::Refused { code, .. }) if code == "NOT_FOUND" => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `POST …/transfer-bills/out-bill-no/{out_bill_no}/cancel`.
    pub async fn cancel_transfer(
        &self,
        account: &PayAccount,
        out_bill_no: &str,
    ) -> Result<TransferBill, PayError> {
        let path =
            format!("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel");
        let text =
            self.call(account, Method::POST, &path, None)
                .await?
                .ok_or(PayError::Refused {
                    status: 404,
                    code: "NOT_FOUND".into(),
                    message: "no such transfer".into(),
                })?;
        Self::parse(&text)
    }
}
