use async_graphql::{Context, Enum, Object, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{payment, refund, wechat_pay_account};
use rust_decimal::Decimal;

use crate::{
    graphql::{context::ContextExt, orders::types::Order},
    rules::money::Unit,
    services::{orders, payments},
};

/// Whether a merchant takes WeChat Pay (its secrets are never shown).
#[derive(SimpleObject)]
pub struct WechatPayStatus {
    pub mchid: Option<String>,
    pub connected: bool,
    pub platform_public_key_id: Option<String>,
}

impl WechatPayStatus {
    pub fn of(account: Option<&wechat_pay_account::Model>) -> Self {
        Self {
            mchid: account.map(|a| a.mchid.clone()),
            connected: account.is_some(),
            platform_public_key_id: account.map(|a| a.platform_public_key_id.clone()),
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum PaymentStatus {
    Pending,
    Paid,
    Closed,
}

/// What `wx.requestPayment` takes, as it takes it.
#[derive(SimpleObject)]
pub struct RequestPayment {
    pub time_stamp: String,
    pub nonce_str: String,
    pub package: String,
    pub sign_type: String,
    pub pay_sign: String,
}

/// A shopper's WeChat Pay payment at a store.
pub struct Payment(pub payment::Model);

#[Object]
impl Payment {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The merchant's order number at WeChat Pay (商户订单号).
    async fn out_trade_no(&self) -> &str {
        &self.0.out_trade_no
    }

    async fn status(&self) -> PaymentStatus {
        match self.0.status.as_str() {
            payments::PAID => PaymentStatus::Paid,
            payments::CLOSED => PaymentStatus::Closed,
            _ => PaymentStatus::Pending,
        }
    }

    /// The order's amount.
    async fn amount(&self) -> Decimal {
        Unit::Cny.from_minor(self.0.amount)
    }

    /// What WeChat Pay collects: the amount less the value of the points used.
    async fn cash_amount(&self) -> Decimal {
        Unit::Cny.from_minor(self.0.cash_amount)
    }

    /// Points held for the payment (spent when it is paid, released when it closes).
    async fn points_used(&self) -> i32 {
        i32::try_from(self.0.points_used).unwrap_or(i32::MAX)
    }

    /// When an unpaid payment is closed.
    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// For `wx.requestPayment`, while the payment waits (the paying shopper only).
    async fn request_payment(&self, ctx: &Context<'_>) -> Result<Option<RequestPayment>> {
        if ctx.principal().require_shopper().ok() != Some(self.0.user_id)
            || self.0.status != payments::PENDING
        {
            return Ok(None);
        }
        let state = ctx.app();
        let Some(account) = payments::account(state, self.0.merchant_id).await? else {
            return Ok(None);
        };
        Ok(
            payments::request_payment(state, &account, &self.0, ctx.now()).map(|r| {
                RequestPayment {
                    time_stamp: r.time_stamp,
                    nonce_str: r.nonce_str,
                    package: r.package,
                    sign_type: r.sign_type,
                    pay_sign: r.pay_sign,
                }
            }),
        )
    }

    /// The order the payment recorded, once paid.
    async fn order(&self, ctx: &Context<'_>) -> Result<Option<Order>> {
        match self.0.order_id {
            Some(id) => Ok(Some(Order(
                orders::find_order(&ctx.app().db, self.0.merchant_id, id).await?,
            ))),
            None => Ok(None),
        }
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefundStatus {
    Processing,
    Success,
    Failed,
}

/// A WeChat Pay refund of (part of) an order.
pub struct Refund(pub refund::Model);

#[Object]
impl Refund {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn amount(&self) -> Decimal {
        Unit::Cny.from_minor(self.0.amount)
    }

    async fn status(&self) -> RefundStatus {
        match self.0.status.as_str() {
            payments::REFUND_SUCCESS => RefundStatus::Success,
            payments::REFUND_FAILED => RefundStatus::Failed,
            _ => RefundStatus::Processing,
        }
    }

    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
