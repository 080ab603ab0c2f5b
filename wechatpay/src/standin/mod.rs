//! A stand-in WeChat Pay v3 server for tests (feature `standin`).
//!
//! It checks each request's `Authorization` as WeChat does, answers with WeChat's JSON and
//! error codes, and signs every answer with its WeChat Pay key (`Wechatpay-*` headers). Tests
//! drive the shopper's side with Rust calls: [`StandIn::pay`], [`StandIn::refund_settles`], and
//! signed, encrypted notifications to POST at the gateway. Merchant transfers (商家转账, 用户确认
//! 模式) likewise: [`StandIn::confirm_transfer`], [`StandIn::transfer_ends`],
//! [`StandIn::transfer_notification`].
//!
//! Served: `POST /v3/pay/transactions/jsapi`, `GET /v3/pay/transactions/out-trade-no/{no}`,
//! `POST /v3/pay/transactions/out-trade-no/{no}/close`, `POST /v3/refund/domestic/refunds`,
//! `GET /v3/refund/domestic/refunds/{out_refund_no}`,
//! `POST /v3/fund-app/mch-transfer/transfer-bills`,
//! `GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}`,
//! `POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}/cancel`.
//!
//! [`server`] stands in for WeChat's mini-program server API (`api.weixin.qq.com`): access
//! tokens, subscribe messages and `jscode2session`.

mod notify;
mod routes;
pub mod server;

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{FixedOffset, Utc};
use rand::distributions::{Alphanumeric, DistString};
use rand::Rng;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};

pub use notify::SignedNotification;

use crate::model::{Refund, Transaction, TransferBill};
use crate::{parse_private_key, parse_public_key, test_keys};

/// Who the stand-in is and which keys it trusts: the merchant's side as WeChat knows it, and
/// WeChat Pay's own signing key.
#[derive(Clone, Debug)]
pub struct StandInConfig {
    /// The mini-program's AppID bound to the merchant.
    pub appid: String,
    /// 商户号.
    pub mchid: String,
    /// Serial of the merchant API certificate that requests must name (`serial_no`).
    pub merchant_serial_no: String,
    /// Checks the merchant's request signatures.
    pub merchant_public_key: RsaPublicKey,
    /// Signs answers and notifications (WeChat Pay's private key; tests verify with its public
    /// half, the 微信支付公钥).
    pub platform_private_key: RsaPrivateKey,
    /// The WeChat Pay public key id sent as `Wechatpay-Serial`, e.g. `PUB_KEY_ID_0112…`.
    pub platform_public_key_id: String,
    /// The merchant's API v3 key (APIv3密钥) that seals notification resources.
    pub api_v3_key: [u8; 32],
    /// The merchant's per-bill transfer limits in fen (单笔转账上下限, set in 商户平台 产品设置);
    /// outside them 发起转账 answers `INVALID_REQUEST`. WeChat's default is 0.1–200 yuan.
    pub transfer_limits: RangeInclusive<i64>,
}

impl StandInConfig {
    /// A configuration with the fixed keys of [`crate::test_keys`]: the gateway under test
    /// signs with `test_keys::MERCHANT_PRIVATE_KEY_PEM` and verifies with
    /// `test_keys::PLATFORM_PUBLIC_KEY_PEM`; the ids and the API v3 key are these fields.
    pub fn for_tests() -> StandInConfig {
        StandInConfig {
            appid: "wxd678efh567hg6787".into(),
            mchid: "1230000109".into(),
            merchant_serial_no: "5157F09EFDC096DE15EBE81A47057A7232F1B8E1".into(),
            merchant_public_key: parse_public_key(test_keys::MERCHANT_PUBLIC_KEY_PEM)
                .expect("the fixed merchant public key parses"),
            platform_private_key: parse_private_key(test_keys::PLATFORM_PRIVATE_KEY_PEM)
                .expect("the fixed platform private key parses"),
            platform_public_key_id: "PUB_KEY_ID_0112300001092025010100000001".into(),
            api_v3_key: *b"FenhongStandInApiV3Key0000000032",
            transfer_limits: 10..=20_000,
        }
    }
}

/// A request the stand-in received, whatever its fate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path without the query, e.g. `/v3/pay/transactions/out-trade-no/FH1`.
    pub path: String,
    /// The query string without `?`, e.g. `mchid=1230000109`.
    pub query: Option<String>,
    /// The body as received (empty for GET).
    pub body: String,
    /// The `Authorization` header as received.
    pub authorization: Option<String>,
    /// Whether the `Authorization` header passed every check (mchid, serial, time, signature).
    pub signature_valid: bool,
}

/// A handle on a running stand-in; clones share it. The server lives as long as the Tokio
/// runtime that started it (the test's).
#[derive(Clone)]
pub struct StandIn {
    inner: Arc<Inner>,
}

struct Inner {
    config: StandInConfig,
    platform_key: Arc<RsaPrivateKey>,
    base_url: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    orders: HashMap<String, Order>,
    refunds: HashMap<String, Refund>,
    transfers: HashMap<String, Transfer>,
    requests: Vec<RecordedRequest>,
    failures: Vec<Failure>,
}

/// A JSAPI order: the request that created it (to spot a changed repeat) and its state.
struct Order {
    request: serde_json::Value,
    prepay_id: String,
    transaction: Transaction,
}

/// A merchant-transfer bill: the request that created it (its encrypted `user_name`, which
/// differs on every encryption, replaced by whether there was one), the `package_info` the create
/// answer carries, and the bill in the query's form.
struct Transfer {
    request: serde_json::Value,
    package_info: String,
    bill: TransferBill,
}

/// An error to answer instead of the next request under `path_prefix`.
struct Failure {
    path_prefix: String,
    status: u16,
    code: String,
}

impl StandIn {
    /// Starts the server on `127.0.0.1` at a free port.
    pub async fn start(config: StandInConfig) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("stand-in: bind 127.0.0.1:0");
        let address = listener.local_addr().expect("stand-in: local address");
        let standin = StandIn {
            inner: Arc::new(Inner {
                platform_key: Arc::new(config.platform_private_key.clone()),
                config,
                base_url: format!("http://{address}"),
                state: Mutex::default(),
            }),
        };
        let app = routes::router(standin.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("stand-in server") });
        standin
    }

    /// Where to send API requests instead of `https://api.mch.weixin.qq.com`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &StandInConfig {
        &self.inner.config
    }

    /// An order as stored, in the order query's form.
    pub fn transaction(&self, out_trade_no: &str) -> Option<Transaction> {
        self.state()
            .orders
            .get(out_trade_no)
            .map(|o| o.transaction.clone())
    }

    /// A refund as stored, in the refund query's form.
    pub fn refund(&self, out_refund_no: &str) -> Option<Refund> {
        self.state().refunds.get(out_refund_no).cloned()
    }

    /// A merchant-transfer bill as stored, in the query's form (商户单号查询转账单: no
    /// `package_info`).
    pub fn transfer_bill(&self, out_bill_no: &str) -> Option<TransferBill> {
        self.state()
            .transfers
            .get(out_bill_no)
            .map(|t| t.bill.clone())
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// The shopper pays an unpaid order: `SUCCESS` with a transaction id, a success time and
    /// `payer_total` = `total`. Paying a paid order returns it unchanged. Panics if the order does
    /// not exist or is closed.
    pub fn pay(&self, out_trade_no: &str) -> Transaction {
        let mut state = self.state();
        let Some(order) = state.orders.get_mut(out_trade_no) else {
            drop(state);
            panic!("stand-in: no order {out_trade_no} to pay");
        };
        let tx = &mut order.transaction;
        match tx.trade_state.as_str() {
            "NOTPAY" => {
                tx.trade_state = "SUCCESS".into();
                tx.trade_state_desc = Some("支付成功".into());
                tx.transaction_id = Some(format!(
                    "42000{}{}{}",
                    digits(5),
                    beijing_now("%Y%m%d"),
                    digits(10)
                ));
                tx.trade_type = Some("JSAPI".into());
                tx.bank_type = Some("OTHERS".into());
                tx.success_time = Some(beijing_now(RFC3339));
                if let Some(amount) = tx.amount.as_mut() {
                    amount.payer_total = Some(amount.total);
                    amount.payer_currency = Some("CNY".into());
                }
                tx.clone()
            }
            "CLOSED" => {
                drop(state);
                panic!("stand-in: order {out_trade_no} is closed and cannot be paid");
            }
            _ => tx.clone(),
        }
    }

    /// A refund reaches its final status: `SUCCESS` (with a success time), `ABNORMAL` or
    /// `CLOSED`. Panics on an unknown refund or another status.
    pub fn refund_settles(&self, out_refund_no: &str, status: &str) -> Refund {
        assert!(
            matches!(status, "SUCCESS" | "ABNORMAL" | "CLOSED"),
            "stand-in: a refund settles as SUCCESS, ABNORMAL or CLOSED, not {status}"
        );
        let mut state = self.state();
        let Some(refund) = state.refunds.get_mut(out_refund_no) else {
            drop(state);
            panic!("stand-in: no refund {out_refund_no}");
        };
        refund.status = status.into();
        refund.success_time = (status == "SUCCESS").then(|| beijing_now(RFC3339));
        refund.clone()
    }

    /// The payee confirms the transfer in the mini-program (`wx.requestMerchantTransfer`) and the
    /// money arrives: `SUCCESS`. Confirming a successful bill returns it unchanged. Panics on an
    /// unknown bill or one that failed or was cancelled.
    pub fn confirm_transfer(&self, out_bill_no: &str) -> TransferBill {
        self.end_transfer(out_bill_no, "SUCCESS")
    }

    /// A transfer bill reaches a final state: `SUCCESS`, `FAIL` (with `fail_reason`
    /// `TRANSFER_RISK`) or `CANCELLED` (with `fail_reason` `MCH_CANCEL`, as after the merchant's
    /// cancel). Ending a bill in the state it already has returns it unchanged. Panics on an
    /// unknown bill, another state, or a bill already final in another state.
    pub fn transfer_ends(&self, out_bill_no: &str, state: &str) -> TransferBill {
        assert!(
            matches!(state, "SUCCESS" | "FAIL" | "CANCELLED"),
            "stand-in: a transfer ends SUCCESS, FAIL or CANCELLED, not {state}"
        );
        self.end_transfer(out_bill_no, state)
    }

    fn end_transfer(&self, out_bill_no: &str, state: &str) -> TransferBill {
        let mut guard = self.state();
        let Some(transfer) = guard.transfers.get_mut(out_bill_no) else {
            drop(guard);
            panic!("stand-in: no transfer bill {out_bill_no}");
        };
        let bill = &mut transfer.bill;
        if bill.state == state {
            return bill.clone();
        }
        if bill.is_final() {
            let was = bill.state.clone();
            drop(guard);
            panic!(
                "stand-in: transfer bill {out_bill_no} is already {was} and cannot become {state}"
            );
        }
        bill.state = state.into();
        bill.fail_reason = match state {
            "FAIL" => Some("TRANSFER_RISK".into()),
            "CANCELLED" => Some("MCH_CANCEL".into()),
            _ => None,
        };
        bill.update_time = Some(beijing_now(RFC3339));
        bill.clone()
    }

    /// The next request whose path starts with `path_prefix` (after its signature is checked)
    /// answers `status` with WeChat error `code`, e.g. `fail_next("/v3/refund", 500,
    /// "SYSTEM_ERROR")`. Several may be queued; each fires once.
    pub fn fail_next(&self, path_prefix: &str, status: u16, code: &str) {
        self.state().failures.push(Failure {
            path_prefix: path_prefix.into(),
            status,
            code: code.into(),
        });
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test control must not take every later call down with it.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// WeChat's time format: RFC 3339 in Beijing time, e.g. `2018-06-08T10:34:56+08:00`.
const RFC3339: &str = "%Y-%m-%dT%H:%M:%S%:z";

fn beijing_now(format: &str) -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset");
    Utc::now()
        .with_timezone(&beijing)
        .format(format)
        .to_string()
}

fn now_secs() -> i64 {
    Utc::now().timestamp()
}

fn digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10)))
        .collect()
}

fn hex(n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// An opaque `package_info` like WeChat's: base64 of 96 random bytes.
fn package_info() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 96];
    rand::thread_rng().fill(&mut bytes[..]);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn alphanumerics(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), n)
}
