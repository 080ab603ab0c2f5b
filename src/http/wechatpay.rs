//! `POST /wechatpay/notify/{merchantId}`: WeChat Pay's notifications of payments and
//! refunds. Nothing is believed before the signature verifies with the merchant's WeChat Pay
//! public key and the timestamp is fresh; the resource is then decrypted with the API v3
//! key and checked against what it claims to settle. `204` tells WeChat it was applied (or
//! had been); anything else gets a `{"code":"FAIL","message":…}` answer and WeChat retries.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use entity::refund;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use wechatpay::{Notification, Refund, Transaction};

use crate::{error::AppError, services::payments, Fenhong};

fn fail(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "code": "FAIL", "message": message }))).into_response()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn notify(
    State(app): State<Fenhong>,
    Path(merchant_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = &app.state;
    let Ok(merchant_id) = merchant_id.parse::<i64>() else {
        return fail(StatusCode::NOT_FOUND, "no such merchant");
    };
    let account = match payments::account(state, merchant_id).await {
        Ok(Some(account)) => account,
        Ok(None) => return fail(StatusCode::NOT_FOUND, "this merchant has no WeChat Pay"),
        Err(err) => return failure(err),
    };
    let (Some(serial), Some(signature), Some(timestamp), Some(nonce)) = (
        header(&headers, wechatpay::HEADER_SERIAL),
        header(&headers, wechatpay::HEADER_SIGNATURE),
        header(&headers, wechatpay::HEADER_TIMESTAMP),
        header(&headers, wechatpay::HEADER_NONCE),
    ) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "the Wechatpay-* headers are missing",
        );
    };
    if serial != account.platform_key_id {
        return fail(
            StatusCode::BAD_REQUEST,
            "signed by a key this merchant did not configure (Wechatpay-Serial)",
        );
    }
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return fail(
            StatusCode::BAD_REQUEST,
            "Wechatpay-Timestamp is not a number",
        );
    };
    let now = state.clock.now();
    if !wechatpay::within_clock_skew(timestamp, now.timestamp()) {
        return fail(
            StatusCode::BAD_REQUEST,
            "the notification's timestamp is more than 5 minutes off",
        );
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return fail(StatusCode::BAD_REQUEST, "the body is not UTF-8");
    };
    if wechatpay::verify_response(&account.platform_key, timestamp, nonce, text, signature).is_err()
    {
        tracing::warn!(
            merchant_id,
            "a WeChat Pay notification's signature does not verify"
        );
        return fail(StatusCode::UNAUTHORIZED, "the signature does not verify");
    }
    let Ok(notification) = serde_json::from_str::<Notification>(text) else {
        return fail(StatusCode::BAD_REQUEST, "the body is not a notification");
    };
    let applied = match notification.event_type.as_str() {
        "TRANSACTION.SUCCESS" => match notification.decrypt::<Transaction>(&account.api_v3_key) {
            Ok(transaction) => payments::apply_paid(state, &account, &transaction, now)
                .await
                .map(|_| ()),
            Err(_) => return fail(StatusCode::BAD_REQUEST, "the resource does not decrypt"),
        },
        "REFUND.SUCCESS" | "REFUND.ABNORMAL" | "REFUND.CLOSED" => {
            match notification.decrypt::<Refund>(&account.api_v3_key) {
                Ok(outcome) => apply_refund(&app, merchant_id, &outcome, now).await,
                Err(_) => return fail(StatusCode::BAD_REQUEST, "the resource does not decrypt"),
            }
        }
        "MCHTRANSFER.BILL.FINISHED" => {
            match notification.decrypt::<wechatpay::TransferBill>(&account.api_v3_key) {
                Ok(bill) => {
                    crate::services::transfers::apply_bill(state, &account, &bill, now).await
                }
                Err(_) => return fail(StatusCode::BAD_REQUEST, "the resource does not decrypt"),
            }
        }
        other => {
            tracing::info!(
                merchant_id,
                event = other,
                "WeChat Pay notification ignored"
            );
            Ok(())
        }
    };
    match applied {
        Ok(()) => {
            state.live.wake();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => failure(err),
    }
}

async fn apply_refund(
    app: &Fenhong,
    merchant_id: i64,
    outcome: &Refund,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AppError> {
    let state = &app.state;
    let found = refund::Entity::find()
        .filter(refund::Column::OutRefundNo.eq(&outcome.out_refund_no))
        .filter(refund::Column::MerchantId.eq(merchant_id))
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("refund"))?;
    let paid = payments::find_payment(&state.db, found.payment_id).await?;
    if outcome.out_trade_no != paid.out_trade_no || outcome.amount.refund != found.amount {
        return Err(AppError::invalid(
            "the refund does not match the one requested",
        ));
    }
    if outcome.status == "PROCESSING" {
        return Ok(());
    }
    payments::settle_refund(state, &found, &outcome.status, now).await?;
    Ok(())
}

/// The answer for a notification that verified but could not be applied.
fn failure(err: AppError) -> Response {
    let status = match &err {
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::InvalidInput(_) | AppError::Conflict(_) => StatusCode::BAD_REQUEST,
        AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = %err.detail(), "a WeChat Pay notification could not be applied");
    } else {
        tracing::warn!(error = %err.detail(), "a WeChat Pay notification was refused");
    }
    fail(status, &err.to_string())
}
