use async_graphql::{Context, InputObject, Object, Result, ID};
use rust_decimal::Decimal;

use super::types::{Payment, WechatPayStatus};
use crate::{
    auth::StaffRole,
    graphql::context::{ContextExt, Guard},
    services::{parse_id, payments},
};

/// A merchant's WeChat Pay merchant account (direct mode, API v3), from its merchant
/// platform: the merchant number, the API certificate's serial number and private key
/// (`apiclient_key.pem`), the API v3 key, and WeChat Pay's public key and its id.
#[derive(InputObject)]
pub struct WechatPayInput {
    pub mchid: String,
    pub merchant_serial_no: String,
    pub private_key_pem: String,
    pub api_v3_key: String,
    pub platform_public_key_id: String,
    pub platform_public_key_pem: String,
}

#[derive(InputObject)]
pub struct CreatePaymentInput {
    pub store_id: ID,
    pub amount: Decimal,
    /// Rebate points to pay part of it with (held until the payment ends).
    pub points_to_use: Option<i32>,
    /// What the shopper sees in WeChat (at most 40 characters); default the merchant and
    /// store names.
    pub description: Option<String>,
}

#[derive(Default)]
pub struct PaymentsMutation;

#[Object]
impl PaymentsMutation {
    /// Owner: connects the merchant's WeChat Pay account (again, to change it). The keys are
    /// kept sealed and never returned.
    async fn configure_wechat_pay(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        input: WechatPayInput,
    ) -> Result<WechatPayStatus> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let app = ctx.app();
        let input = payments::WechatPayInput {
            mchid: input.mchid,
            merchant_serial_no: input.merchant_serial_no,
            private_key_pem: input.private_key_pem,
            api_v3_key: input.api_v3_key,
            platform_public_key_id: input.platform_public_key_id,
            platform_public_key_pem: input.platform_public_key_pem,
        };
        let account =
            payments::configure(&app.db, app.secrets.as_ref(), merchant_id, input, ctx.now())
                .await?;
        Ok(WechatPayStatus::of(Some(&account)))
    }

    /// Shopper: starts paying at a store with WeChat Pay; pass `requestPayment` to
    /// `wx.requestPayment`. The order is recorded when WeChat confirms the payment.
    async fn create_payment(
        &self,
        ctx: &Context<'_>,
        input: CreatePaymentInput,
    ) -> Result<Payment> {
        let user_id = ctx.principal().require_shopper()?;
        let new = payments::NewPayment {
            store_id: parse_id(&input.store_id, "store")?,
            amount: input.amount,
            points_to_use: input.points_to_use.unwrap_or(0).into(),
            description: input.description,
        };
        let created = payments::create_payment(ctx.app(), user_id, new, ctx.now()).await?;
        Ok(Payment(created))
    }
}
