//! Withdrawals: the amount is held at once, then paid out or returned on review.

use chrono::{DateTime, Utc};
use entity::withdrawal;
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use super::{members, programs};
use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind, Cause, Owner, Posting},
    rules::money::{self, floor2, Unit},
};

pub const PENDING: &str = "PENDING";
pub const APPROVED: &str = "APPROVED";
pub const REJECTED: &str = "REJECTED";

pub async fn request_withdrawal(
    db: &DatabaseConnection,
    merchant_id: i64,
    user_id: i64,
    amount: Decimal,
    now: DateTime<Utc>,
) -> AppResult<withdrawal::Model> {
    let amount = money::money(amount, "amount").map_err(AppError::InvalidInput)?;
    members::find_membership(db, merchant_id, user_id)
        .await?
        .ok_or(AppError::NotFound("membership"))?;
    let rules = programs::current(db, merchant_id)
        .await?
        .set
        .withdrawal_rules();
    if amount < rules.min_withdrawal {
        return Err(AppError::InvalidInput(format!(
            "the smallest withdrawal is {}",
            rules.min_withdrawal
        )));
    }
    if amount > rules.max_withdrawal {
        return Err(AppError::InvalidInput(format!(
            "the largest withdrawal is {}",
            rules.max_withdrawal
        )));
    }
    let fee = floor2(amount * rules.fee_ratio);
    let created = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                super::queue::lock_merchant(tx, merchant_id, now).await?;
                let created = withdrawal::ActiveModel {
                    merchant_id: Set(merchant_id),
                    user_id: Set(user_id),
                    amount: Set(fen(amount)?),
                    fee: Set(fen(fee)?),
                    status: Set(PENDING.into()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?;
                ledger::post(
                    tx,
                    merchant_id,
                    Cause::withdrawal("WITHDRAWAL_REQUESTED", created.id),
                    &[
                        Posting::new(
                            Owner::Shopper(user_id),
                            AccountKind::Cash,
                            -amount,
                            "WITHDRAWAL_HOLD",
                        ),
                        Posting::new(
                            Owner::Shopper(user_id),
                            AccountKind::CashOnHold,
                            amount,
                            "WITHDRAWAL_HOLD",
                        ),
                    ],
                    now,
                )
                .await
                .map_err(|e| match e {
                    AppError::InsufficientFunds(_) => AppError::InsufficientFunds(
                        "the cash balance is lower than the amount".into(),
                    ),
                    other => other,
                })?;
                let kind = crate::live::EventKind::WithdrawalRequested {
                    withdrawal_id: created.id,
                    user_id,
                    amount,
                };
                crate::live::outbox::emit(tx, merchant_id, kind, vec![user_id], None, now).await?;
                Ok(created)
            })
        })
        .await?;
    Ok(created)
}

/// Approves (the held cash is paid out, less the fee) or rejects (it returns to the
/// balance) a pending withdrawal. Reviewing twice is a `CONFLICT`.
pub async fn review_withdrawal(
    db: &DatabaseConnection,
    merchant_id: i64,
    staff_id: Option<i64>,
    withdrawal_id: i64,
    approve: bool,
    note: Option<String>,
    now: DateTime<Utc>,
) -> AppResult<withdrawal::Model> {
    let note = super::clean_note(note, "note")?;
    let found = withdrawal::Entity::find_by_id(withdrawal_id)
        .one(db)
        .await?
        .filter(|w| w.merchant_id == merchant_id)
        .ok_or(AppError::NotFound("withdrawal"))?;
    let reviewed = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                super::queue::lock_merchant(tx, merchant_id, now).await?;
                let status = if approve { APPROVED } else { REJECTED };
                let marked = withdrawal::Entity::update_many()
                    .col_expr(withdrawal::Column::Status, status.into())
                    .col_expr(withdrawal::Column::Note, note.into())
                    .col_expr(withdrawal::Column::ReviewedBy, staff_id.into())
                    .col_expr(withdrawal::Column::ReviewedAt, Some(now).into())
                    .filter(withdrawal::Column::Id.eq(found.id))
                    .filter(withdrawal::Column::Status.eq(PENDING))
                    .exec(tx)
                    .await?;
                if marked.rows_affected != 1 {
                    return Err(AppError::conflict("this withdrawal was already reviewed"));
                }
                let postings = ending_postings(&found, approve);
                let cause = if approve {
                    "WITHDRAWAL_APPROVED"
                } else {
                    "WITHDRAWAL_REJECTED"
                };
                ledger::post(
                    tx,
                    merchant_id,
                    Cause::withdrawal(cause, found.id),
                    &postings,
                    now,
                )
                .await?;
                crate::live::outbox::emit(
                    tx,
                    merchant_id,
                    crate::live::EventKind::WalletsChanged,
                    vec![found.user_id],
                    None,
                    now,
                )
                .await?;
                withdrawal::Entity::find_by_id(found.id)
                    .one(tx)
                    .await?
                    .ok_or(AppError::NotFound("withdrawal"))
            })
        })
        .await?;
    Ok(reviewed)
}

/// How a withdrawal's held cash leaves the hold: paid out (the net to the payout, the fee
/// kept) or returned whole to the shopper's cash.
pub fn ending_postings(found: &withdrawal::Model, paid: bool) -> Vec<Posting> {
    let amount = Unit::Cny.from_minor(found.amount);
    let fee = Unit::Cny.from_minor(found.fee);
    let user = Owner::Shopper(found.user_id);
    if paid {
        vec![
            Posting::new(user, AccountKind::CashOnHold, -amount, "WITHDRAWAL_PAID"),
            Posting::new(
                Owner::Merchant,
                AccountKind::WithdrawalPayout,
                amount - fee,
                "WITHDRAWAL_PAID",
            ),
            Posting::new(
                Owner::Merchant,
                AccountKind::FeeIncome,
                fee,
                "WITHDRAWAL_FEE",
            ),
        ]
    } else {
        vec![
            Posting::new(
                user,
                AccountKind::CashOnHold,
                -amount,
                "WITHDRAWAL_RETURNED",
            ),
            Posting::new(user, AccountKind::Cash, amount, "WITHDRAWAL_RETURNED"),
        ]
    }
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<withdrawal::Model> {
    withdrawal::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("withdrawal"))
}

/// A shopper's own withdrawals at a merchant, newest first.
pub async fn withdrawals_of_member(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<Vec<withdrawal::Model>> {
    Ok(withdrawal::Entity::find()
        .filter(withdrawal::Column::MerchantId.eq(merchant_id))
        .filter(withdrawal::Column::UserId.eq(user_id))
        .order_by_desc(withdrawal::Column::Id)
        .limit(200)
        .all(db)
        .await?)
}

pub async fn withdrawals_of(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    status: Option<&str>,
) -> AppResult<Vec<withdrawal::Model>> {
    let mut query = withdrawal::Entity::find()
        .filter(withdrawal::Column::MerchantId.eq(merchant_id))
        .order_by_desc(withdrawal::Column::Id)
        .limit(1000);
    if let Some(status) = status {
        query = query.filter(withdrawal::Column::Status.eq(status));
    }
    Ok(query.all(db).await?)
}

fn fen(amount: Decimal) -> AppResult<i64> {
    Unit::Cny
        .to_minor(amount)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("{amount} is not whole fen")))
}
