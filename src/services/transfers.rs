//! Withdrawals paid into the shopper's WeChat balance by merchant transfer (商家转账, the
//! shopper confirms receipt in the mini-program): RULES.md "Withdrawals paid by transfer".
//! PENDING → (approve) TRANSFERRING → PAID, or → FAILED with the amount back in her cash in
//! the same transaction. One withdrawal is one `out_bill_no`, so a retried approval, a
//! repeated notification or a lookup never pays twice.

use chrono::{DateTime, Utc};
use entity::withdrawal;
use sea_orm::{
    sea_query::Expr, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde_json::json;
use wechatpay::TransferBill;

use super::{
    merchants, payments,
    withdrawals::{self, PENDING},
};
use crate::{
    error::{AppError, AppResult},
    ledger::{self, Cause},
    live::{outbox, EventKind},
    rules::money::Unit,
    wechatpay_api::{PayAccount, PayError},
    AppState,
};

pub const TRANSFERRING: &str = "TRANSFERRING";
pub const PAID: &str = "PAID";
pub const FAILED: &str = "FAILED";

/// The transfer number of a withdrawal (one per withdrawal).
pub fn out_bill_no(withdrawal_id: i64) -> String {
    format!("FHW{withdrawal_id:0>12}")
}

/// How a transfer ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Paid,
    Failed(String),
}

impl Outcome {
    /// WeChat's final states; `None` while the transfer is still under way.
    fn of(bill: &TransferBill) -> Option<Self> {
        match bill.state.as_str() {
            "SUCCESS" => Some(Self::Paid),
            "FAIL" => Some(Self::Failed(
                bill.fail_reason
                    .clone()
                    .unwrap_or_else(|| "the transfer failed".into()),
            )),
            "CANCELLED" => Some(Self::Failed(
                "the transfer was cancelled or not confirmed in time".into(),
            )),
            _ => None,
        }
    }
}

/// Approves a pending withdrawal of a merchant with WeChat Pay: it becomes TRANSFERRING and
/// WeChat is asked to transfer the net amount; the shopper then confirms receipt in the
/// mini-program (`confirmation`). Approving again is a `CONFLICT`.
pub async fn approve(
    state: &AppState,
    account: &PayAccount,
    found: withdrawal::Model,
    staff_id: Option<i64>,
    note: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<withdrawal::Model> {
    let db = &state.db;
    let id = found.id;
    let merchant_id = found.merchant_id;
    let bill_no = out_bill_no(id);
    let marked = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                super::queue::lock_merchant(tx, merchant_id, now).await?;
                let marked = withdrawal::Entity::update_many()
                    .col_expr(withdrawal::Column::Status, Expr::value(TRANSFERRING))
                    .col_expr(withdrawal::Column::Note, Expr::value(note))
                    .col_expr(withdrawal::Column::ReviewedBy, Expr::value(staff_id))
                    .col_expr(withdrawal::Column::ReviewedAt, Expr::value(Some(now)))
                    .col_expr(withdrawal::Column::OutBillNo, Expr::value(Some(bill_no)))
                    .filter(withdrawal::Column::Id.eq(id))
                    .filter(withdrawal::Column::Status.eq(PENDING))
                    .exec(tx)
                    .await?;
                if marked.rows_affected == 1 {
                    emit(tx, &find(tx, id).await?, now).await?;
                }
                Ok(marked.rows_affected == 1)
            })
        })
        .await?;
    if !marked {
        // Reviewed already (a raced or repeated approval): its transfer is under way, and
        // the lookup sends it again under the same out_bill_no if WeChat never got it.
        return Err(AppError::conflict("this withdrawal was already reviewed"));
    }
    let current = find(db, id).await?;
    send(state, account, &current, now).await
}

/// Asks WeChat for the transfer (again, under the same `out_bill_no`, if it never answered)
/// and records its answer.
async fn send(
    state: &AppState,
    account: &PayAccount,
    current: &withdrawal::Model,
    now: DateTime<Utc>,
) -> AppResult<withdrawal::Model> {
    let net = current.amount - current.fee;
    if net <= 0 {
        // The fee took it all: nothing to transfer.
        return settle(state, current, Outcome::Paid, now).await;
    }
    let db = &state.db;
    let merchant = merchants::find_merchant(db, current.merchant_id).await?;
    let rules = super::programs::current(db, current.merchant_id)
        .await?
        .set
        .withdrawal_rules();
    let shopper = entity::user::Entity::find_by_id(current.user_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let name: String = merchant.name.chars().take(20).collect();
    let body = json!({
        "appid": state.config.appid(),
        "out_bill_no": out_bill_no(current.id),
        "transfer_scene_id": rules.transfer_scene_id,
        "openid": shopper.openid,
        "transfer_amount": net,
        "transfer_remark": format!("{name}奖励提现"),
        "notify_url": payments::notify_url(state, current.merchant_id),
        "user_recv_perception": "现金奖励",
        "transfer_scene_report_infos": [
            { "info_type": "活动名称", "info_content": format!("{name}消费奖励") },
            { "info_type": "奖励说明", "info_content": "排队免单与推荐奖励提现" },
        ],
    });
    match state.pay.transfer(account, &body).await {
        Ok(bill) => {
            if let Some(outcome) = Outcome::of(&bill) {
                return settle(state, current, outcome, now).await;
            }
            withdrawal::Entity::update_many()
                .col_expr(
                    withdrawal::Column::TransferBillNo,
                    Expr::value(Some(bill.transfer_bill_no.clone())),
                )
                .col_expr(
                    withdrawal::Column::PackageInfo,
                    Expr::value(bill.package_info),
                )
                .filter(withdrawal::Column::Id.eq(current.id))
                .exec(db)
                .await?;
            find(db, current.id).await
        }
        Err(err) if err.is_transient() => {
            // Unknown whether WeChat took it: the lookup finds out, or sends it again.
            tracing::warn!(error = %err, withdrawal = current.id, "transfer request failed; the lookup will retry");
            find(db, current.id).await
        }
        Err(err) => {
            let reason = match &err {
                PayError::Refused { message, code, .. } => format!("{message} ({code})"),
                other => other.to_string(),
            };
            tracing::warn!(withdrawal = current.id, %reason, "WeChat Pay refused a transfer");
            settle(state, current, Outcome::Failed(reason), now).await
        }
    }
}

/// Ends a withdrawal (TRANSFERRING, or PENDING when its shopper cancels it): PAID moves the
/// held cash out (the net to the payout, the fee kept), FAILED gives it all back to her
/// cash, in the transaction that marks it. Ending it again changes nothing.
pub async fn settle(
    state: &AppState,
    current: &withdrawal::Model,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> AppResult<withdrawal::Model> {
    let found = current.clone();
    let db = &state.db;
    db.transaction::<_, _, AppError>(|tx| {
        Box::pin(async move {
            crate::db::claim_writer(tx).await?;
            super::queue::lock_merchant(tx, found.merchant_id, now).await?;
            let (status, reason) = match &outcome {
                Outcome::Paid => (PAID, None),
                Outcome::Failed(reason) => {
                    (FAILED, Some(reason.chars().take(200).collect::<String>()))
                }
            };
            let marked = withdrawal::Entity::update_many()
                .col_expr(withdrawal::Column::Status, Expr::value(status))
                .col_expr(withdrawal::Column::FailReason, Expr::value(reason))
                .col_expr(withdrawal::Column::SettledAt, Expr::value(Some(now)))
                .col_expr(
                    withdrawal::Column::PackageInfo,
                    Expr::value(Option::<String>::None),
                )
                .filter(withdrawal::Column::Id.eq(found.id))
                .filter(withdrawal::Column::Status.is_in([TRANSFERRING, PENDING]))
                .exec(tx)
                .await?;
            if marked.rows_affected != 1 {
                return Ok(());
            }
            let (cause, postings) = match outcome {
                Outcome::Paid => (
                    "WITHDRAWAL_TRANSFERRED",
                    withdrawals::ending_postings(&found, true),
                ),
                Outcome::Failed(_) => (
                    "WITHDRAWAL_FAILED",
                    withdrawals::ending_postings(&found, false),
                ),
            };
            ledger::post(
                tx,
                found.merchant_id,
                Cause::withdrawal(cause, found.id),
                &postings,
                now,
            )
            .await?;
            emit(tx, &find(tx, found.id).await?, now).await?;
            Ok(())
        })
    })
    .await?;
    find(db, current.id).await
}

/// The shopper takes back a withdrawal: at once while it is PENDING; while it waits for her
/// confirmation, WeChat cancels the transfer first (the money returns when WeChat says it is
/// cancelled). A transfer that already went through cannot be cancelled.
pub async fn cancel(
    state: &AppState,
    user_id: i64,
    withdrawal_id: i64,
    now: DateTime<Utc>,
) -> AppResult<withdrawal::Model> {
    let db = &state.db;
    let current = find(db, withdrawal_id)
        .await?
        .filter_owner(user_id)
        .ok_or(AppError::NotFound("withdrawal"))?;
    match current.status.as_str() {
        PENDING => {
            return settle(
                state,
                &current,
                Outcome::Failed("cancelled by the shopper".into()),
                now,
            )
            .await
        }
        TRANSFERRING => {}
        _ => return Err(AppError::conflict("this withdrawal has already ended")),
    }
    let Some(account) = payments::account(state, current.merchant_id).await? else {
        return Err(AppError::conflict(
            "this withdrawal cannot be cancelled now",
        ));
    };
    let bill_no = out_bill_no(current.id);
    match state.pay.cancel_transfer(&account, &bill_no).await {
        Ok(bill) => {
            if let Some(outcome) = Outcome::of(&bill) {
                return settle(state, &current, outcome, now).await;
            }
            // CANCELING: the lookup or the notification ends it.
            if let Some(ended) = state
                .pay
                .transfer_bill(&account, &bill_no)
                .await?
                .as_ref()
                .and_then(Outcome::of)
            {
                return settle(state, &current, ended, now).await;
            }
            find(db, current.id).await
        }
        Err(PayError::Refused { status: 404, .. }) => {
            // WeChat never took the transfer: nothing can arrive, so it ends here.
            settle(
                state,
                &current,
                Outcome::Failed("cancelled by the shopper".into()),
                now,
            )
            .await
        }
        Err(err) if err.is_transient() => Err(err.into()),
        Err(_) => {
            // Refused because it is final: apply what WeChat says.
            match state
                .pay
                .transfer_bill(&account, &bill_no)
                .await?
                .as_ref()
                .and_then(Outcome::of)
            {
                Some(Outcome::Paid) => {
                    settle(state, &current, Outcome::Paid, now).await?;
                    Err(AppError::conflict("the transfer already went through"))
                }
                Some(failed) => settle(state, &current, failed, now).await,
                None => Err(AppError::conflict(
                    "this withdrawal cannot be cancelled now",
                )),
            }
        }
    }
}

trait OwnedBy: Sized {
    fn filter_owner(self, user_id: i64) -> Option<Self>;
}

impl OwnedBy for withdrawal::Model {
    fn filter_owner(self, user_id: i64) -> Option<Self> {
        (self.user_id == user_id).then_some(self)
    }
}

/// Applies WeChat's `MCHTRANSFER.BILL.FINISHED` (or a lookup's answer) to its withdrawal,
/// after checking it is this merchant's transfer of this amount.
pub async fn apply_bill(
    state: &AppState,
    account: &PayAccount,
    bill: &TransferBill,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let found = withdrawal::Entity::find()
        .filter(withdrawal::Column::OutBillNo.eq(&bill.out_bill_no))
        .filter(withdrawal::Column::MerchantId.eq(account.merchant_id))
        .one(&state.db)
        .await?
        .ok_or(AppError::NotFound("withdrawal"))?;
    if bill.mch_id.as_deref().is_some_and(|m| m != account.mchid)
        || bill
            .transfer_amount
            .is_some_and(|a| a != found.amount - found.fee)
    {
        return Err(AppError::invalid(
            "the transfer does not match the withdrawal",
        ));
    }
    if let Some(outcome) = Outcome::of(bill) {
        settle(state, &found, outcome, now).await?;
    }
    Ok(())
}

/// Looks up transfers still under way a minute after approval: ends those WeChat ended, and
/// sends again those WeChat never received. Returns how many it ended.
pub async fn sweep(state: &AppState, now: DateTime<Utc>) -> AppResult<usize> {
    let open = withdrawal::Entity::find()
        .filter(withdrawal::Column::Status.eq(TRANSFERRING))
        .filter(withdrawal::Column::ReviewedAt.lte(now - payments::LOOKUP_AFTER))
        .order_by_asc(withdrawal::Column::Id)
        .limit(200)
        .all(&state.db)
        .await?;
    let mut ended = 0;
    for current in open {
        let Some(account) = payments::account(state, current.merchant_id).await? else {
            continue;
        };
        match state
            .pay
            .transfer_bill(&account, &out_bill_no(current.id))
            .await
        {
            Ok(Some(bill)) => {
                if let Some(outcome) = Outcome::of(&bill) {
                    settle(state, &current, outcome, now).await?;
                    ended += 1;
                } else if current.transfer_bill_no.is_none() {
                    withdrawal::Entity::update_many()
                        .col_expr(
                            withdrawal::Column::TransferBillNo,
                            Expr::value(Some(bill.transfer_bill_no.clone())),
                        )
                        .filter(withdrawal::Column::Id.eq(current.id))
                        .exec(&state.db)
                        .await?;
                }
            }
            Ok(None) => {
                let sent = send(state, &account, &current, now).await?;
                if sent.status != TRANSFERRING {
                    ended += 1;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, withdrawal = current.id, "transfer lookup failed")
            }
        }
    }
    Ok(ended)
}

async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<withdrawal::Model> {
    withdrawals::find(db, id).await
}

/// Tells the shopper's wallet and the merchant's feed that a withdrawal changed.
async fn emit(
    tx: &impl ConnectionTrait,
    current: &withdrawal::Model,
    now: DateTime<Utc>,
) -> AppResult<()> {
    outbox::emit(
        tx,
        current.merchant_id,
        EventKind::WithdrawalChanged {
            withdrawal_id: current.id,
            user_id: current.user_id,
            amount: Unit::Cny.from_minor(current.amount),
            status: current.status.clone(),
        },
        vec![current.user_id],
        None,
        now,
    )
    .await
}
