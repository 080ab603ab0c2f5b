//! WeChat Pay, money in: a merchant's connection, shoppers' payments, WeChat's notifications
//! and the lookups that stand in for lost ones, and refunds (RULES.md "Payments and
//! refunds"). A paid payment becomes an order through the till's own path
//! ([`orders::record_in`]), so rewards, events and idempotency are the same.

use chrono::{DateTime, Duration, Utc};
use entity::{membership, payment, refund, user, wechat_pay_account};
use rand::{distributions::Alphanumeric, Rng};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use wechatpay::{RequestPayment, Transaction};

use super::{
    merchants,
    orders::{self, PointsPaying, Recording},
    points, programs, queue,
};
use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind, Cause, Owner, Posting},
    live::{outbox, EventKind},
    rules::{
        money::{self, Unit},
        rebate,
    },
    secrets::SecretBox,
    wechatpay_api::{PayAccount, PayError},
    AppState,
};

pub const PENDING: &str = "PENDING";
pub const PAID: &str = "PAID";
pub const CLOSED: &str = "CLOSED";
pub const REFUND_PROCESSING: &str = "PROCESSING";
pub const REFUND_SUCCESS: &str = "SUCCESS";
pub const REFUND_FAILED: &str = "FAILED";

/// How long a shopper has to pay (WeChat's `time_expire`).
pub const PAYMENT_TTL: Duration = Duration::minutes(30);
/// A payment or refund still open after this long is looked up (its notification may be
/// lost).
pub const LOOKUP_AFTER: Duration = Duration::seconds(60);
/// How far a notification's timestamp may be from the server's clock.
pub const NOTIFICATION_SKEW: Duration = Duration::minutes(5);

/// A merchant's WeChat Pay merchant account, as the owner enters it.
#[derive(Clone, Debug)]
pub struct WechatPayInput {
    pub mchid: String,
    pub merchant_serial_no: String,
    pub private_key_pem: String,
    pub api_v3_key: String,
    pub platform_public_key_id: String,
    pub platform_public_key_pem: String,
}

fn invalid(msg: &str) -> AppError {
    AppError::invalid(msg)
}

/// Connects (or reconnects) a merchant's WeChat Pay account. Every field is checked before
/// anything is stored; the private key and API v3 key are sealed with the secrets key.
pub async fn configure(
    db: &impl ConnectionTrait,
    secrets: Option<&SecretBox>,
    merchant_id: i64,
    input: WechatPayInput,
    now: DateTime<Utc>,
) -> AppResult<wechat_pay_account::Model> {
    let secrets = secrets.ok_or_else(|| {
        invalid("this server has no FENHONG_SECRETS_KEY to keep WeChat Pay keys with; ask the platform operator")
    })?;
    let mchid = input.mchid.trim();
    if !(6..=32).contains(&mchid.len()) || !mchid.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid("mchid is the WeChat Pay merchant number (digits)"));
    }
    let serial = input.merchant_serial_no.trim();
    if !(8..=64).contains(&serial.len()) || !serial.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(
            "merchantSerialNo is the hex serial number of the merchant API certificate",
        ));
    }
    wechatpay::parse_private_key(&input.private_key_pem).map_err(|e| {
        AppError::invalid(format!(
            "privateKeyPem is not a usable RSA private key (the PEM of apiclient_key.pem): {e}"
        ))
    })?;
    if input.api_v3_key.len() != 32 || !input.api_v3_key.is_ascii() {
        return Err(invalid("apiV3Key is the 32-character API v3 key"));
    }
    let key_id = input.platform_public_key_id.trim();
    if key_id.is_empty()
        || key_id.len() > 64
        || !key_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(invalid(
            "platformPublicKeyId is the id of the WeChat Pay public key (PUB_KEY_ID_…)",
        ));
    }
    let platform_key =
        wechatpay::parse_public_key(&input.platform_public_key_pem).map_err(|e| {
            AppError::invalid(format!(
            "platformPublicKeyPem is not a readable RSA public key (the PEM of pub_key.pem): {e}"
        ))
        })?;
    merchants::find_merchant(db, merchant_id).await?;
    let row = wechat_pay_account::ActiveModel {
        merchant_id: Set(merchant_id),
        mchid: Set(mchid.to_owned()),
        merchant_serial_no: Set(serial.to_uppercase()),
        private_key_sealed: Set(secrets.seal(input.private_key_pem.trim().as_bytes())),
        api_v3_key_sealed: Set(secrets.seal(input.api_v3_key.as_bytes())),
        platform_public_key_id: Set(key_id.to_owned()),
        platform_public_key_pem: Set(wechatpay::public_key_pem(&platform_key)),
        updated_at: Set(now),
    };
    wechat_pay_account::Entity::insert(row)
        .on_conflict(
            OnConflict::column(wechat_pay_account::Column::MerchantId)
                .update_columns([
                    wechat_pay_account::Column::Mchid,
                    wechat_pay_account::Column::MerchantSerialNo,
                    wechat_pay_account::Column::PrivateKeySealed,
                    wechat_pay_account::Column::ApiV3KeySealed,
                    wechat_pay_account::Column::PlatformPublicKeyId,
                    wechat_pay_account::Column::PlatformPublicKeyPem,
                    wechat_pay_account::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    account_row(db, merchant_id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("WeChat Pay account vanished")))
}

pub async fn account_row(
    db: &impl ConnectionTrait,
    merchant_id: i64,
) -> AppResult<Option<wechat_pay_account::Model>> {
    Ok(wechat_pay_account::Entity::find_by_id(merchant_id)
        .one(db)
        .await?)
}

/// The merchant's account with its secrets opened, or `None` without WeChat Pay.
pub async fn account(state: &AppState, merchant_id: i64) -> AppResult<Option<PayAccount>> {
    let Some(row) = account_row(&state.db, merchant_id).await? else {
        return Ok(None);
    };
    let secrets = state.secrets.as_ref().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!(
            "merchant {merchant_id} has WeChat Pay but the server has no secrets key"
        ))
    })?;
    PayAccount::open(&row, secrets).map(Some)
}

/// What a shopper asks to pay at a store.
#[derive(Clone, Debug)]
pub struct NewPayment {
    pub store_id: i64,
    pub amount: Decimal,
    pub points_to_use: i64,
    pub description: Option<String>,
}

/// A string of `len` letters and digits.
fn random_code(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// The notify URL WeChat is given for a merchant's payments and refunds.
pub fn notify_url(state: &AppState, merchant_id: i64) -> String {
    format!(
        "{}/wechatpay/notify/{merchant_id}",
        state.config.public_url.trim_end_matches('/')
    )
}

/// The longest prefix of `text` that fits in `max` UTF-8 bytes.
fn within_bytes(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A shopper starts paying at a store: her points are held at once, and WeChat prepays the
/// cash part. The answer carries what `wx.requestPayment` takes.
pub async fn create_payment(
    state: &AppState,
    user_id: i64,
    input: NewPayment,
    now: DateTime<Utc>,
) -> AppResult<payment::Model> {
    let db = &state.db;
    let amount = money::money(input.amount, "amount").map_err(AppError::InvalidInput)?;
    if input.points_to_use < 0 {
        return Err(invalid("pointsToUse must not be negative"));
    }
    let store = merchants::find_store(db, input.store_id).await?;
    let merchant_id = store.merchant_id;
    let member = membership::Entity::find()
        .filter(membership::Column::MerchantId.eq(merchant_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?;
    if member.is_none() {
        return Err(AppError::forbidden(
            "join this merchant first (scan its store code)",
        ));
    }
    let Some(account) = account(state, merchant_id).await? else {
        return Err(invalid("this merchant does not take WeChat Pay"));
    };
    let shopper = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let programs = programs::current(db, merchant_id).await?;
    let mut cash = amount;
    if input.points_to_use > 0 {
        let rules = programs
            .set
            .rebate
            .as_ref()
            .ok_or_else(|| invalid("this merchant does not take points"))?;
        let cap = rebate::max_points_usable(amount, rules);
        if input.points_to_use > cap {
            return Err(AppError::InvalidInput(format!(
                "at most {cap} points may pay for this order"
            )));
        }
        cash -= rebate::value_of(input.points_to_use, rules);
    }
    if cash <= Decimal::ZERO {
        return Err(invalid(
            "nothing is left to pay by WeChat Pay; pay with points at the till",
        ));
    }
    let merchant = merchants::find_merchant(db, merchant_id).await?;
    let description = match input.description {
        Some(text) => super::clean_name(&text, "description", 40)?,
        None => format!("{}-{}", merchant.name, store.name),
    };
    let description = within_bytes(&description, 127).to_owned();
    let out_trade_no = format!("FH{}{}", now.format("%Y%m%d%H%M%S"), random_code(12));
    let points_to_use = input.points_to_use;
    let row = payment::ActiveModel {
        merchant_id: Set(merchant_id),
        store_id: Set(store.id),
        user_id: Set(user_id),
        out_trade_no: Set(out_trade_no.clone()),
        amount: Set(orders::to_fen(amount)?),
        cash_amount: Set(orders::to_fen(cash)?),
        points_used: Set(points_to_use),
        description: Set(description.clone()),
        status: Set(PENDING.into()),
        created_at: Set(now),
        expires_at: Set(now + PAYMENT_TTL),
        ..Default::default()
    };
    let created = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                queue::lock_merchant(tx, merchant_id, now).await?;
                let created = row.insert(tx).await?;
                if points_to_use > 0 {
                    points::hold(tx, merchant_id, user_id, created.id, points_to_use, now).await?;
                    outbox::emit(
                        tx,
                        merchant_id,
                        EventKind::WalletsChanged,
                        vec![user_id],
                        None,
                        now,
                    )
                    .await?;
                }
                Ok(created)
            })
        })
        .await?;
    let body = json!({
        "appid": state.config.appid(),
        "mchid": account.mchid,
        "description": description,
        "out_trade_no": out_trade_no,
        "time_expire": created.expires_at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "notify_url": notify_url(state, merchant_id),
        "amount": { "total": created.cash_amount, "currency": "CNY" },
        "payer": { "openid": shopper.openid },
    });
    match state.pay.jsapi(&account, &body).await {
        Ok(prepay_id) => {
            let mut active: payment::ActiveModel = created.into();
            active.prepay_id = Set(Some(prepay_id));
            Ok(active.update(db).await?)
        }
        Err(err) => {
            // She never got a prepay id, so she cannot have paid: close it here (and at
            // WeChat, in case the request arrived) and give her points back.
            tracing::warn!(error = %err, out_trade_no = %created.out_trade_no, "prepay failed");
            let _ = state.pay.close(&account, &created.out_trade_no).await;
            close_locally(db, &created, now).await?;
            Err(match err {
                PayError::Refused { code, message, .. }
                    if !matches!(code.as_str(), "SYSTEM_ERROR") =>
                {
                    AppError::Unavailable(format!(
                        "WeChat Pay refused the payment: {message} ({code})"
                    ))
                }
                other => other.into(),
            })
        }
    }
}

/// What `wx.requestPayment` takes for a pending payment, signed now.
pub fn request_payment(
    state: &AppState,
    account: &PayAccount,
    payment: &payment::Model,
    now: DateTime<Utc>,
) -> Option<RequestPayment> {
    let prepay_id = payment.prepay_id.as_deref()?;
    (payment.status == PENDING).then(|| {
        wechatpay::request_payment(
            state.config.appid(),
            prepay_id,
            &account.private_key,
            now.timestamp(),
            &wechatpay::nonce(),
        )
    })
}

pub async fn find_payment(db: &impl ConnectionTrait, id: i64) -> AppResult<payment::Model> {
    payment::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("payment"))
}

/// Marks a pending payment closed and releases its points (once).
async fn close_locally(
    db: &DatabaseConnection,
    found: &payment::Model,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let found = found.clone();
    let closed = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                queue::lock_merchant(tx, found.merchant_id, now).await?;
                let marked = payment::Entity::update_many()
                    .col_expr(payment::Column::Status, Expr::value(CLOSED))
                    .col_expr(payment::Column::ClosedAt, Expr::value(Some(now)))
                    .filter(payment::Column::Id.eq(found.id))
                    .filter(payment::Column::Status.eq(PENDING))
                    .exec(tx)
                    .await?;
                if marked.rows_affected != 1 {
                    return Ok(false);
                }
                let released =
                    points::release_held(tx, found.merchant_id, found.user_id, found.id, now)
                        .await?;
                if released > 0 {
                    outbox::emit(
                        tx,
                        found.merchant_id,
                        EventKind::WalletsChanged,
                        vec![found.user_id],
                        None,
                        now,
                    )
                    .await?;
                }
                Ok(true)
            })
        })
        .await?;
    Ok(closed)
}

/// Why a paid transaction cannot be applied to a payment.
fn mismatch(what: &str) -> AppError {
    AppError::invalid(format!(
        "the transaction does not match the payment: {what}"
    ))
}

/// Applies WeChat's word that a payment succeeded (from a notification or a lookup):
/// checks it against the payment, then in one transaction marks it paid, records the order
/// through the till's path (completing it when the store completes on payment) and posts
/// the money to the WeChat clearing account. Applying it again changes nothing.
pub async fn apply_paid(
    state: &AppState,
    account: &PayAccount,
    transaction: &Transaction,
    now: DateTime<Utc>,
) -> AppResult<payment::Model> {
    let db = &state.db;
    let found = payment::Entity::find()
        .filter(payment::Column::OutTradeNo.eq(&transaction.out_trade_no))
        .filter(payment::Column::MerchantId.eq(account.merchant_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("payment"))?;
    if transaction.mchid != account.mchid {
        return Err(mismatch("mchid"));
    }
    if transaction.appid != state.config.appid() {
        return Err(mismatch("appid"));
    }
    if transaction.trade_state != "SUCCESS" {
        return Err(mismatch("trade_state is not SUCCESS"));
    }
    let total = transaction.amount.as_ref().map(|a| a.total);
    if total != Some(found.cash_amount)
        || transaction
            .amount
            .as_ref()
            .is_some_and(|a| a.currency != "CNY")
    {
        return Err(mismatch("amount"));
    }
    let store = merchants::find_store(db, found.store_id).await?;
    let transaction_id = transaction.transaction_id.clone();
    let paid = found.clone();
    db.transaction::<_, _, AppError>(|tx| {
        Box::pin(async move {
            crate::db::claim_writer(tx).await?;
            queue::lock_merchant(tx, paid.merchant_id, now).await?;
            let marked = payment::Entity::update_many()
                .col_expr(payment::Column::Status, Expr::value(PAID))
                .col_expr(payment::Column::TransactionId, Expr::value(transaction_id))
                .col_expr(payment::Column::PaidAt, Expr::value(Some(now)))
                .filter(payment::Column::Id.eq(paid.id))
                .filter(payment::Column::Status.eq(PENDING))
                .exec(tx)
                .await?;
            if marked.rows_affected != 1 {
                let current = find_payment(tx, paid.id).await?;
                if current.status == PAID {
                    return Ok(()); // applied before: a replayed notification
                }
                tracing::error!(payment = paid.id, "WeChat reports a closed payment as paid");
                return Err(AppError::conflict(
                    "the payment was closed before it was paid",
                ));
            }
            let order = orders::record_in(
                tx,
                Recording {
                    merchant_id: paid.merchant_id,
                    store_id: paid.store_id,
                    user_id: paid.user_id,
                    amount: Unit::Cny.from_minor(paid.amount),
                    points: PointsPaying::Held {
                        payment_id: paid.id,
                        points: paid.points_used,
                        cash_paid: paid.cash_amount,
                    },
                    idempotency_key: paid.out_trade_no.clone(),
                    fingerprint: format!("payment={}", paid.id),
                    recorded_by: None,
                    complete: store.complete_on_payment,
                },
                now,
            )
            .await?;
            payment::Entity::update_many()
                .col_expr(payment::Column::OrderId, Expr::value(Some(order.id)))
                .filter(payment::Column::Id.eq(paid.id))
                .exec(tx)
                .await?;
            let cash = Unit::Cny.from_minor(paid.cash_amount);
            ledger::post(
                tx,
                paid.merchant_id,
                Cause::order("WECHAT_PAYMENT", order.id),
                &Posting::pair(
                    (Owner::Merchant, AccountKind::MerchantSales),
                    (Owner::Merchant, AccountKind::WechatClearing),
                    cash,
                    "WECHAT_PAYMENT",
                ),
                now,
            )
            .await?;
            Ok(())
        })
    })
    .await?;
    find_payment(db, found.id).await
}

/// Refunds (part of) a WeChat-paid order that is still PAID. `amount` defaults to all that
/// is left. The refund is PROCESSING until WeChat settles it (notification or lookup).
pub async fn refund(
    state: &AppState,
    paid: &payment::Model,
    reason: Option<String>,
    amount: Option<Decimal>,
    now: DateTime<Utc>,
) -> AppResult<refund::Model> {
    let db = &state.db;
    let Some(order_id) = paid.order_id else {
        return Err(AppError::NotFound("order"));
    };
    let Some(account) = account(state, paid.merchant_id).await? else {
        return Err(invalid("this merchant's WeChat Pay is not connected"));
    };
    let amount = match amount {
        Some(amount) => Some(orders::to_fen(
            money::money(amount, "amount").map_err(AppError::InvalidInput)?,
        )?),
        None => None,
    };
    let out_refund_no = format!("RF{}{}", now.format("%Y%m%d%H%M%S"), random_code(12));
    let merchant_id = paid.merchant_id;
    let payment_id = paid.id;
    let reason_kept = reason.clone();
    let created = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                queue::lock_merchant(tx, merchant_id, now).await?;
                let order = orders::find_order(tx, merchant_id, order_id).await?;
                match order.status.as_str() {
                    orders::PAID => {}
                    orders::COMPLETED => {
                        return Err(AppError::conflict(
                            "a completed order is final and cannot be refunded through the reward system",
                        ))
                    }
                    _ => return Err(AppError::conflict("the order is already refunded")),
                }
                let processing: Vec<i64> = refund::Entity::find()
                    .select_only()
                    .column(refund::Column::Amount)
                    .filter(refund::Column::OrderId.eq(order_id))
                    .filter(refund::Column::Status.eq(REFUND_PROCESSING))
                    .into_tuple()
                    .all(tx)
                    .await?;
                let left = order.cash_paid - order.refunded_amount - processing.iter().sum::<i64>();
                let amount = amount.unwrap_or(left);
                if left <= 0 {
                    return Err(AppError::conflict("nothing of this order is left to refund"));
                }
                if amount > left {
                    return Err(AppError::InvalidInput(format!(
                        "at most {} can be refunded",
                        Unit::Cny.from_minor(left)
                    )));
                }
                Ok(refund::ActiveModel {
                    merchant_id: Set(merchant_id),
                    order_id: Set(order_id),
                    payment_id: Set(payment_id),
                    out_refund_no: Set(out_refund_no),
                    amount: Set(amount),
                    reason: Set(reason_kept),
                    status: Set(REFUND_PROCESSING.into()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?)
            })
        })
        .await?;
    match send_refund(state, &account, paid, &created).await {
        Ok(answer) => {
            let mut active: refund::ActiveModel = created.clone().into();
            active.refund_id = Set(Some(answer.refund_id.clone()));
            let stored = active.update(db).await?;
            if answer.status == "SUCCESS" {
                return settle_refund(state, &stored, "SUCCESS", now).await;
            }
            Ok(stored)
        }
        Err(err) if err.is_transient() => {
            // Unknown whether WeChat took it: it stays PROCESSING and the lookup finds out
            // (sending it again under the same out_refund_no if WeChat never saw it).
            tracing::warn!(error = %err, refund = created.id, "refund request failed; the lookup will retry");
            Ok(created)
        }
        Err(err) => {
            settle_refund(state, &created, "FAILED", now).await?;
            Err(AppError::conflict(format!(
                "WeChat Pay refused the refund: {}",
                match &err {
                    PayError::Refused { message, code, .. } => format!("{message} ({code})"),
                    other => other.to_string(),
                }
            )))
        }
    }
}

async fn send_refund(
    state: &AppState,
    account: &PayAccount,
    paid: &payment::Model,
    refund: &refund::Model,
) -> Result<wechatpay::Refund, PayError> {
    let mut body = json!({
        "out_trade_no": paid.out_trade_no,
        "out_refund_no": refund.out_refund_no,
        "notify_url": notify_url(state, paid.merchant_id),
        "amount": { "refund": refund.amount, "total": paid.cash_amount, "currency": "CNY" },
    });
    if let Some(reason) = &refund.reason {
        body["reason"] = json!(within_bytes(reason, 240));
    }
    state.pay.refund(account, &body).await
}

/// Settles a refund once WeChat says how it ended: `SUCCESS` gives the money back (the
/// order is REFUNDED when nothing is left, its points back in their lots), anything else
/// marks it FAILED. Settling it again changes nothing.
pub async fn settle_refund(
    state: &AppState,
    found: &refund::Model,
    outcome: &str,
    now: DateTime<Utc>,
) -> AppResult<refund::Model> {
    let db = &state.db;
    let found = found.clone();
    let id = found.id;
    let success = outcome == "SUCCESS";
    db.transaction::<_, _, AppError>(|tx| {
        Box::pin(async move {
            crate::db::claim_writer(tx).await?;
            queue::lock_merchant(tx, found.merchant_id, now).await?;
            let status = if success {
                REFUND_SUCCESS
            } else {
                REFUND_FAILED
            };
            let marked = refund::Entity::update_many()
                .col_expr(refund::Column::Status, Expr::value(status))
                .col_expr(refund::Column::SettledAt, Expr::value(Some(now)))
                .filter(refund::Column::Id.eq(found.id))
                .filter(refund::Column::Status.eq(REFUND_PROCESSING))
                .exec(tx)
                .await?;
            if marked.rows_affected != 1 || !success {
                return Ok(());
            }
            let order = orders::find_order(tx, found.merchant_id, found.order_id).await?;
            let refunded = order.refunded_amount + found.amount;
            let mut update = entity::order::Entity::update_many()
                .col_expr(entity::order::Column::RefundedAmount, Expr::value(refunded))
                .filter(entity::order::Column::Id.eq(order.id));
            let whole = refunded >= order.cash_paid;
            if whole {
                update = update
                    .col_expr(entity::order::Column::Status, Expr::value(orders::REFUNDED))
                    .col_expr(entity::order::Column::RefundedAt, Expr::value(Some(now)))
                    .col_expr(
                        entity::order::Column::RefundReason,
                        Expr::value(found.reason.clone()),
                    );
            }
            update.exec(tx).await?;
            let amount = Unit::Cny.from_minor(found.amount);
            ledger::post(
                tx,
                found.merchant_id,
                Cause::order("WECHAT_REFUND", order.id),
                &Posting::pair(
                    (Owner::Merchant, AccountKind::WechatClearing),
                    (Owner::Merchant, AccountKind::MerchantSales),
                    amount,
                    "WECHAT_REFUND",
                ),
                now,
            )
            .await?;
            if whole && order.points_used > 0 {
                points::restore(tx, found.merchant_id, order.user_id, order.id, now).await?;
            }
            outbox::emit(
                tx,
                found.merchant_id,
                EventKind::OrderRefunded {
                    order_id: order.id,
                    user_id: order.user_id,
                    amount,
                },
                vec![order.user_id],
                None,
                now,
            )
            .await?;
            Ok(())
        })
    })
    .await?;
    refund::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("refund"))
}

/// The payment that paid for an order, if WeChat Pay did.
pub async fn payment_of_order(
    db: &impl ConnectionTrait,
    order_id: i64,
) -> AppResult<Option<payment::Model>> {
    Ok(payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .one(db)
        .await?)
}

/// What one lookup sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentSweep {
    pub paid: usize,
    pub closed: usize,
    pub refunds_settled: usize,
    pub refunds_resent: usize,
}

/// Looks up what notifications may have missed: pending payments older than a minute
/// (paid → applied; unpaid past `expiresAt` → closed at WeChat and here, points released)
/// and processing refunds (settled, or sent again if WeChat never received them). Safe on
/// every instance at once: each outcome applies once.
pub async fn sweep(state: &AppState, now: DateTime<Utc>) -> AppResult<PaymentSweep> {
    let db = &state.db;
    let mut report = PaymentSweep::default();
    let pending = payment::Entity::find()
        .filter(payment::Column::Status.eq(PENDING))
        .filter(payment::Column::CreatedAt.lte(now - LOOKUP_AFTER))
        .order_by_asc(payment::Column::Id)
        .limit(200)
        .all(db)
        .await?;
    for open in pending {
        let Some(account) = account(state, open.merchant_id).await? else {
            continue;
        };
        match sweep_payment(state, &account, &open, now).await {
            Ok(Swept::Paid) => report.paid += 1,
            Ok(Swept::Closed) => report.closed += 1,
            Ok(Swept::Open) => {}
            Err(err) => {
                tracing::warn!(error = %err.detail(), payment = open.id, "payment lookup failed")
            }
        }
    }
    let processing = refund::Entity::find()
        .filter(refund::Column::Status.eq(REFUND_PROCESSING))
        .filter(refund::Column::CreatedAt.lte(now - LOOKUP_AFTER))
        .order_by_asc(refund::Column::Id)
        .limit(200)
        .all(db)
        .await?;
    for open in processing {
        let Some(account) = account(state, open.merchant_id).await? else {
            continue;
        };
        match state.pay.refund_status(&account, &open.out_refund_no).await {
            Ok(Some(answer)) => {
                let outcome = answer.status.as_str();
                if outcome != "PROCESSING" {
                    settle_refund(state, &open, outcome, now).await?;
                    report.refunds_settled += 1;
                }
            }
            Ok(None) => {
                let paid = find_payment(db, open.payment_id).await?;
                match send_refund(state, &account, &paid, &open).await {
                    Ok(_) => report.refunds_resent += 1,
                    Err(err) if err.is_transient() => {
                        tracing::warn!(error = %err, refund = open.id, "refund resend failed")
                    }
                    Err(_) => {
                        settle_refund(state, &open, "FAILED", now).await?;
                        report.refunds_settled += 1;
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, refund = open.id, "refund lookup failed"),
        }
    }
    Ok(report)
}

enum Swept {
    Paid,
    Closed,
    Open,
}

async fn sweep_payment(
    state: &AppState,
    account: &PayAccount,
    open: &payment::Model,
    now: DateTime<Utc>,
) -> AppResult<Swept> {
    let found = state.pay.transaction(account, &open.out_trade_no).await?;
    match found.as_ref().map(|t| t.trade_state.as_str()) {
        Some("SUCCESS") => {
            apply_paid(state, account, found.as_ref().expect("matched Some"), now).await?;
            return Ok(Swept::Paid);
        }
        Some("CLOSED" | "REVOKED" | "PAYERROR") => {
            return Ok(if close_locally(&state.db, open, now).await? {
                Swept::Closed
            } else {
                Swept::Open
            });
        }
        _ => {}
    }
    if now < open.expires_at {
        return Ok(Swept::Open);
    }
    if found.is_some() {
        match state.pay.close(account, &open.out_trade_no).await {
            Ok(()) => {}
            Err(PayError::Refused { code, .. }) if code == "ORDERPAID" => {
                // Paid at the last moment: apply what WeChat now says.
                if let Some(paid) = state.pay.transaction(account, &open.out_trade_no).await? {
                    apply_paid(state, account, &paid, now).await?;
                    return Ok(Swept::Paid);
                }
                return Ok(Swept::Open);
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(if close_locally(&state.db, open, now).await? {
        Swept::Closed
    } else {
        Swept::Open
    })
}
