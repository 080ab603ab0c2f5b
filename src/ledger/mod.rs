//! The double-entry ledger: accounts, balanced transactions of postings, balances.
//!
//! Every movement of value is one [`post`]: postings that sum to zero per unit, each on an
//! account, each naming its kind, the transaction naming its cause. Account balances are a
//! cache of their postings updated in the same database transaction; an account that may
//! not go negative is updated only where the result stays at or above zero (and a CHECK
//! constraint backs that up), so concurrent spends of one balance cannot both succeed.

mod audit;

pub use audit::{audit, AuditReport};

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use entity::{ledger_account, ledger_posting, ledger_transaction};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::{CaseStatement, Expr, OnConflict, SimpleExpr},
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Statement,
};
use serde::Serialize;

use crate::{
    error::{AppError, AppResult},
    rules::money::Unit,
};

/// Whose account it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Shopper(i64),
    Merchant,
}

impl Owner {
    fn key(self) -> (&'static str, i64) {
        match self {
            Self::Shopper(user_id) => ("USER", user_id),
            Self::Merchant => ("MERCHANT", 0),
        }
    }
}

/// What an account holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccountKind {
    /// A shopper's spendable cash.
    Cash,
    /// A shopper's cash held for a pending withdrawal.
    CashOnHold,
    /// A shopper's rebate points.
    Points,
    /// A shopper's value-added points.
    VaPoints,
    /// The merchant's funding of cash rewards (goes negative by what it has paid out).
    RewardFunding,
    /// The merchant's issue of rebate points (negative by the points outstanding).
    PointsIssuance,
    /// Cash paid out to shoppers by approved withdrawals.
    WithdrawalPayout,
    /// Withdrawal fees the merchant keeps.
    FeeIncome,
    /// The queue's pool: budget left over, paid out with the next completion.
    QueuePool,
    /// The cash backing value-added points.
    VaPool,
    /// The merchant's issue of value-added points (negative by the supply).
    VaIssuance,
    /// A shopper's rebate points held for a WeChat Pay payment not yet paid.
    PointsOnHold,
    /// Money WeChat Pay holds for the merchant: what shoppers paid, less refunds.
    WechatClearing,
    /// The merchant's sales through WeChat Pay (negative by what they brought in).
    MerchantSales,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cash => "CASH",
            Self::CashOnHold => "CASH_ON_HOLD",
            Self::Points => "POINTS",
            Self::VaPoints => "VA_POINTS",
            Self::RewardFunding => "REWARD_FUNDING",
            Self::PointsIssuance => "POINTS_ISSUANCE",
            Self::WithdrawalPayout => "WITHDRAWAL_PAYOUT",
            Self::FeeIncome => "FEE_INCOME",
            Self::QueuePool => "QUEUE_POOL",
            Self::VaPool => "VA_POOL",
            Self::VaIssuance => "VA_ISSUANCE",
            Self::PointsOnHold => "POINTS_ON_HOLD",
            Self::WechatClearing => "WECHAT_CLEARING",
            Self::MerchantSales => "MERCHANT_SALES",
        }
    }

    pub const ALL: [AccountKind; 14] = [
        Self::Cash,
        Self::CashOnHold,
        Self::Points,
        Self::VaPoints,
        Self::RewardFunding,
        Self::PointsIssuance,
        Self::WithdrawalPayout,
        Self::FeeIncome,
        Self::QueuePool,
        Self::VaPool,
        Self::VaIssuance,
        Self::PointsOnHold,
        Self::WechatClearing,
        Self::MerchantSales,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    pub fn unit(self) -> Unit {
        match self {
            Self::Points | Self::PointsIssuance | Self::PointsOnHold => Unit::Points,
            Self::VaPoints | Self::VaIssuance => Unit::VaPoints,
            _ => Unit::Cny,
        }
    }

    /// Shoppers' balances never go below zero.
    pub fn non_negative(self) -> bool {
        matches!(
            self,
            Self::Cash
                | Self::CashOnHold
                | Self::Points
                | Self::VaPoints
                | Self::PointsOnHold
                | Self::WechatClearing
        )
    }
}

/// One line of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Posting {
    pub owner: Owner,
    pub account: AccountKind,
    /// Signed, in the account's unit: positive adds to the balance.
    pub amount: Decimal,
    /// What the line is, as shoppers see it in their history (`REBATE_POINTS`, …).
    pub kind: &'static str,
}

impl Posting {
    pub fn new(owner: Owner, account: AccountKind, amount: Decimal, kind: &'static str) -> Self {
        Self {
            owner,
            account,
            amount,
            kind,
        }
    }

    /// `amount` moved from one account to another: the two postings, both named `kind`.
    pub fn pair(
        from: (Owner, AccountKind),
        to: (Owner, AccountKind),
        amount: Decimal,
        kind: &'static str,
    ) -> [Posting; 2] {
        [
            Self::new(from.0, from.1, -amount, kind),
            Self::new(to.0, to.1, amount, kind),
        ]
    }
}

/// Why a transaction happened.
#[derive(Clone, Debug, Default)]
pub struct Cause {
    pub kind: &'static str,
    pub order_id: Option<i64>,
    pub withdrawal_id: Option<i64>,
    pub memo: Option<String>,
}

impl Cause {
    pub fn order(kind: &'static str, order_id: i64) -> Self {
        Self {
            kind,
            order_id: Some(order_id),
            ..Default::default()
        }
    }

    /// A movement for a WeChat Pay payment before it made an order.
    pub fn payment(kind: &'static str, payment_id: i64) -> Self {
        Self {
            kind,
            memo: Some(format!("payment {payment_id}")),
            ..Default::default()
        }
    }

    pub fn withdrawal(kind: &'static str, withdrawal_id: i64) -> Self {
        Self {
            kind,
            withdrawal_id: Some(withdrawal_id),
            ..Default::default()
        }
    }
}

/// The account's id, creating the account on first use.
pub async fn account_id(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    owner: Owner,
    kind: AccountKind,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let ids = account_ids_of(db, merchant_id, &[(owner, kind)], now).await?;
    Ok(ids[&(owner, kind)])
}

/// The ids of several accounts of one merchant, creating those never used: one query when
/// they all exist, three when some are new.
pub async fn account_ids_of(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    wanted: &[(Owner, AccountKind)],
    now: DateTime<Utc>,
) -> AppResult<BTreeMap<(Owner, AccountKind), i64>> {
    let mut wanted: Vec<(Owner, AccountKind)> = wanted.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let find = |keys: &[(Owner, AccountKind)]| {
        let mut any = Condition::any();
        for (owner, kind) in keys {
            let (owner_kind, owner_id) = owner.key();
            any = any.add(
                Condition::all()
                    .add(ledger_account::Column::OwnerKind.eq(owner_kind))
                    .add(ledger_account::Column::OwnerId.eq(owner_id))
                    .add(ledger_account::Column::Kind.eq(kind.as_str())),
            );
        }
        ledger_account::Entity::find()
            .filter(ledger_account::Column::MerchantId.eq(merchant_id))
            .filter(any)
    };
    let key_of = |a: &ledger_account::Model| {
        wanted.iter().copied().find(|(owner, kind)| {
            owner.key() == (a.owner_kind.as_str(), a.owner_id) && kind.as_str() == a.kind
        })
    };
    let mut ids = BTreeMap::new();
    for account in find(&wanted).all(db).await? {
        if let Some(key) = key_of(&account) {
            ids.insert(key, account.id);
        }
    }
    let missing: Vec<(Owner, AccountKind)> = wanted
        .iter()
        .copied()
        .filter(|key| !ids.contains_key(key))
        .collect();
    if missing.is_empty() {
        return Ok(ids);
    }
    ledger_account::Entity::insert_many(missing.iter().map(|(owner, kind)| {
        let (owner_kind, owner_id) = owner.key();
        ledger_account::ActiveModel {
            merchant_id: Set(merchant_id),
            owner_kind: Set(owner_kind.into()),
            owner_id: Set(owner_id),
            kind: Set(kind.as_str().into()),
            unit: Set(kind.unit().as_str().into()),
            balance: Set(0),
            non_negative: Set(kind.non_negative()),
            created_at: Set(now),
            ..Default::default()
        }
    }))
    .on_conflict(OnConflict::new().do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    for account in find(&missing).all(db).await? {
        if let Some(key) = key_of(&account) {
            ids.insert(key, account.id);
        }
    }
    if let Some(lost) = wanted.iter().find(|key| !ids.contains_key(key)) {
        return Err(AppError::Internal(anyhow::anyhow!(
            "ledger account {lost:?} vanished"
        )));
    }
    Ok(ids)
}

/// Shoppers' balances in minor units, keyed as asked `(merchant, user, kind)`, in one
/// statement; an account never used is absent (zero).
pub async fn shopper_balances(
    db: &impl ConnectionTrait,
    wanted: &[(i64, i64, AccountKind)],
) -> AppResult<HashMap<(i64, i64, AccountKind), i64>> {
    let mut condition = Condition::any();
    for (merchant_id, user_id, kind) in wanted {
        condition = condition.add(
            Condition::all()
                .add(ledger_account::Column::MerchantId.eq(*merchant_id))
                .add(ledger_account::Column::OwnerKind.eq("USER"))
                .add(ledger_account::Column::OwnerId.eq(*user_id))
                .add(ledger_account::Column::Kind.eq(kind.as_str())),
        );
    }
    let rows = ledger_account::Entity::find()
        .filter(condition)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|a| {
            let kind = AccountKind::parse(&a.kind)?;
            Some(((a.merchant_id, a.owner_id, kind), a.balance))
        })
        .collect())
}

/// The balance of an account (zero if it was never used).
pub async fn balance(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    owner: Owner,
    kind: AccountKind,
) -> AppResult<Decimal> {
    let (owner_kind, owner_id) = owner.key();
    let found = ledger_account::Entity::find()
        .filter(ledger_account::Column::MerchantId.eq(merchant_id))
        .filter(ledger_account::Column::OwnerKind.eq(owner_kind))
        .filter(ledger_account::Column::OwnerId.eq(owner_id))
        .filter(ledger_account::Column::Kind.eq(kind.as_str()))
        .one(db)
        .await?;
    Ok(kind.unit().from_minor(found.map_or(0, |a| a.balance)))
}

/// Writes one balanced transaction. Fails with `INSUFFICIENT_FUNDS` (and writes nothing the
/// caller's transaction keeps) if it would take a shopper's balance below zero.
pub async fn post(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    cause: Cause,
    postings: &[Posting],
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let Some((lines, minors)) = balanced(&cause, postings)? else {
        return Ok(0);
    };

    // Balance changes per account, applied in account-id order so that concurrent
    // transactions lock rows in one order and cannot deadlock.
    let mut deltas: BTreeMap<i64, (i64, &Posting)> = BTreeMap::new();
    let mut account_ids = Vec::with_capacity(lines.len());
    let wanted: Vec<(Owner, AccountKind)> = lines.iter().map(|l| (l.owner, l.account)).collect();
    let ids = account_ids_of(db, merchant_id, &wanted, now).await?;
    for (line, minor) in lines.iter().zip(&minors) {
        let id = ids[&(line.owner, line.account)];
        deltas.entry(id).or_insert((0, line)).0 += minor;
        account_ids.push(id);
    }
    for (id, (delta, line)) in &deltas {
        if *delta == 0 {
            continue;
        }
        let updated = ledger_account::Entity::update_many()
            .col_expr(
                ledger_account::Column::Balance,
                Expr::col(ledger_account::Column::Balance).add(*delta),
            )
            .filter(ledger_account::Column::Id.eq(*id))
            .filter(
                Condition::any()
                    .add(Expr::expr(Expr::col(ledger_account::Column::Balance).add(*delta)).gte(0))
                    .add(ledger_account::Column::NonNegative.eq(false)),
            )
            .exec(db)
            .await?;
        if updated.rows_affected != 1 {
            return Err(AppError::InsufficientFunds(match line.account {
                AccountKind::Points => "not enough points".into(),
                AccountKind::VaPoints => "not enough value-added points".into(),
                _ => "not enough balance".into(),
            }));
        }
    }
    let transaction = insert_transactions(db, merchant_id, &[(&cause, now)]).await?[0];
    insert_postings(
        db,
        merchant_id,
        lines
            .iter()
            .zip(minors)
            .zip(account_ids)
            .map(|((line, minor), account)| (transaction, &cause, now, *line, minor, account))
            .collect(),
    )
    .await?;
    Ok(transaction)
}

/// Several transactions at once, with one statement per table whatever their number:
/// the accounts looked up together, every balance changed by one update, the transactions
/// and their postings each inserted by one statement, in the order given. The result is
/// what [`post`] one after another gives. A run in which a shopper's balance is taken from
/// (whose check depends on what came before it) is posted one transaction at a time.
///
/// `known`: account ids found before (an account's id never changes); the ones looked up
/// are added to it.
pub async fn post_many(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    batch: Vec<(Cause, Vec<Posting>, DateTime<Utc>)>,
    known: &mut BTreeMap<(Owner, AccountKind), i64>,
) -> AppResult<()> {
    let Some(planned) = plan_many(db, merchant_id, &batch, known).await? else {
        for (cause, lines, now) in batch {
            post(db, merchant_id, cause, &lines, now).await?;
        }
        return Ok(());
    };
    if let Some(update) = planned.balances() {
        let updated = update.exec(db).await?;
        planned.check_balances(updated.rows_affected)?;
    }
    let transactions = insert_transactions(db, merchant_id, &planned.causes()).await?;
    for insert in planned.postings(merchant_id, &transactions) {
        insert.exec_without_returning(db).await?;
    }
    Ok(())
}

/// [`post_many`] as PostgreSQL statements to send together (`db::execute_together`), with
/// the ids the caller reserved for its transactions (at least one per transaction with a
/// non-zero line, in order). Each takes its rows as one JSON parameter
/// (`db::with_json_rows`), so their text is the same for every batch. `None`: a shopper's
/// balance is taken from, so the run must go through [`post_many`]. The statements' last is
/// the balance update: its row count goes to [`PlannedPostings::check_balances`].
pub async fn post_many_statements(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    batch: &[(Cause, Vec<Posting>, DateTime<Utc>)],
    known: &mut BTreeMap<(Owner, AccountKind), i64>,
    transaction_ids: &[i64],
) -> AppResult<Option<(Vec<Statement>, PlannedPostings)>> {
    let Some(planned) = plan_many(db, merchant_id, batch, known).await? else {
        return Ok(None);
    };
    let causes = planned.causes();
    if causes.len() > transaction_ids.len() {
        return Err(AppError::Internal(anyhow::anyhow!(
            "{} ledger transactions with {} ids reserved",
            causes.len(),
            transaction_ids.len()
        )));
    }
    let ids = &transaction_ids[..causes.len()];
    let transactions: Vec<TransactionRow<'_>> = causes
        .iter()
        .zip(ids)
        .map(|(&(cause, now), &id)| TransactionRow {
            id,
            merchant_id,
            cause: cause.kind,
            order_id: cause.order_id,
            withdrawal_id: cause.withdrawal_id,
            memo: cause.memo.as_deref(),
            created_at: now,
        })
        .collect();
    let postings: Vec<PostingJson> = planned
        .transactions
        .iter()
        .zip(ids)
        .flat_map(|(t, &transaction_id)| {
            t.lines.iter().zip(&t.minors).zip(&t.accounts).map(
                move |((line, &amount), &account_id)| PostingJson {
                    transaction_id,
                    account_id,
                    merchant_id,
                    unit: line.account.unit().as_str(),
                    amount,
                    kind: line.kind,
                    order_id: t.cause.order_id,
                    created_at: t.now,
                },
            )
        })
        .collect();
    let balances: Vec<BalanceChange> = planned
        .deltas
        .iter()
        .map(|(&id, &delta)| BalanceChange { id, delta })
        .collect();
    let statements = vec![
        crate::db::with_json_rows(INSERT_TRANSACTIONS, &transactions)?,
        crate::db::with_json_rows(INSERT_POSTINGS, &postings)?,
        crate::db::with_json_rows(CHANGE_BALANCES, &balances)?,
    ];
    Ok(Some((statements, planned)))
}

#[derive(Serialize)]
struct TransactionRow<'a> {
    id: i64,
    merchant_id: i64,
    cause: &'a str,
    order_id: Option<i64>,
    withdrawal_id: Option<i64>,
    memo: Option<&'a str>,
    created_at: DateTime<Utc>,
}

const INSERT_TRANSACTIONS: &str = "INSERT INTO ledger_transactions \
    (id, merchant_id, cause, order_id, withdrawal_id, memo, created_at) \
    SELECT id, merchant_id, cause, order_id, withdrawal_id, memo, created_at \
    FROM json_to_recordset($1::json) AS r(id bigint, merchant_id bigint, cause text, \
    order_id bigint, withdrawal_id bigint, memo text, created_at timestamptz)";

#[derive(Serialize)]
struct PostingJson {
    transaction_id: i64,
    account_id: i64,
    merchant_id: i64,
    unit: &'static str,
    amount: i64,
    kind: &'static str,
    order_id: Option<i64>,
    created_at: DateTime<Utc>,
}

const INSERT_POSTINGS: &str = "INSERT INTO ledger_postings \
    (transaction_id, account_id, merchant_id, unit, amount, kind, order_id, created_at) \
    SELECT transaction_id, account_id, merchant_id, unit, amount, kind, order_id, created_at \
    FROM json_to_recordset($1::json) AS r(transaction_id bigint, account_id bigint, \
    merchant_id bigint, unit text, amount bigint, kind text, order_id bigint, \
    created_at timestamptz)";

#[derive(Serialize)]
struct BalanceChange {
    id: i64,
    delta: i64,
}

/// Only credits to shoppers' balances come this way (see [`plan_many`]): none can go below
/// zero. Its row count is checked by [`PlannedPostings::check_balances`].
const CHANGE_BALANCES: &str = "UPDATE ledger_accounts AS a SET balance = a.balance + d.delta \
    FROM json_to_recordset($1::json) AS d(id bigint, delta bigint) \
    WHERE a.id = d.id AND a.id = ANY(ARRAY(SELECT (r->>'id')::bigint \
    FROM json_array_elements($1::json) AS r))";

/// A batch checked to balance, its accounts' ids known and its balance changes summed.
pub struct PlannedPostings {
    transactions: Vec<PlannedTransaction>,
    deltas: BTreeMap<i64, i64>,
}

/// A transaction's non-zero lines, their amounts in minor units and their accounts' ids.
struct PlannedTransaction {
    cause: Cause,
    now: DateTime<Utc>,
    lines: Vec<Posting>,
    minors: Vec<i64>,
    accounts: Vec<i64>,
}

impl PlannedPostings {
    fn causes(&self) -> Vec<(&Cause, DateTime<Utc>)> {
        self.transactions
            .iter()
            .map(|t| (&t.cause, t.now))
            .collect()
    }

    /// Every changed balance in one update (only credits to shoppers' balances: none can go
    /// below zero).
    fn balances(&self) -> Option<sea_orm::UpdateMany<ledger_account::Entity>> {
        if self.deltas.is_empty() {
            return None;
        }
        let mut change = CaseStatement::new();
        for (id, delta) in &self.deltas {
            change = change.case(ledger_account::Column::Id.eq(*id), *delta);
        }
        Some(
            ledger_account::Entity::update_many()
                .col_expr(
                    ledger_account::Column::Balance,
                    Expr::col(ledger_account::Column::Balance)
                        .add(SimpleExpr::Case(Box::new(change.finally(0)))),
                )
                .filter(ledger_account::Column::Id.is_in(self.deltas.keys().copied())),
        )
    }

    /// The balance update's row count must be the number of accounts it changes (without a
    /// balance update there is nothing to check).
    pub fn check_balances(&self, rows_affected: u64) -> AppResult<()> {
        if !self.deltas.is_empty() && rows_affected != self.deltas.len() as u64 {
            return Err(AppError::Internal(anyhow::anyhow!(
                "{} of {} ledger accounts were updated",
                rows_affected,
                self.deltas.len()
            )));
        }
        Ok(())
    }

    /// The postings of the transactions with these ids, in inserts of at most
    /// [`POSTINGS_PER_INSERT`] rows.
    fn postings(
        &self,
        merchant_id: i64,
        transaction_ids: &[i64],
    ) -> Vec<sea_orm::Insert<ledger_posting::ActiveModel>> {
        let rows: Vec<PostingRow<'_>> = self
            .transactions
            .iter()
            .zip(transaction_ids)
            .flat_map(|(t, transaction)| {
                t.lines.iter().zip(&t.minors).zip(&t.accounts).map(
                    move |((line, minor), account)| {
                        (*transaction, &t.cause, t.now, line, *minor, *account)
                    },
                )
            })
            .collect();
        rows.chunks(POSTINGS_PER_INSERT)
            .map(|chunk| posting_rows(merchant_id, chunk))
            .collect()
    }
}

/// Checks a batch and finds its accounts; `None` when a line takes from a balance that may
/// not go below zero (each such transaction must be checked after the ones before it).
async fn plan_many(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    batch: &[(Cause, Vec<Posting>, DateTime<Utc>)],
    known: &mut BTreeMap<(Owner, AccountKind), i64>,
) -> AppResult<Option<PlannedPostings>> {
    let takes_from_shopper = batch.iter().any(|(_, lines, _)| {
        lines
            .iter()
            .any(|l| l.account.non_negative() && l.amount < Decimal::ZERO)
    });
    if takes_from_shopper {
        return Ok(None);
    }
    let mut prepared = Vec::with_capacity(batch.len());
    for (cause, postings, now) in batch {
        if let Some((lines, minors)) = balanced(cause, postings)? {
            prepared.push((cause, lines, minors, *now));
        }
    }
    let wanted: Vec<(Owner, AccountKind)> = prepared
        .iter()
        .flat_map(|(_, lines, _, _)| lines.iter().map(|l| (l.owner, l.account)))
        .filter(|key| !known.contains_key(key))
        .collect();
    if let (false, Some(first_now)) = (wanted.is_empty(), prepared.first().map(|p| p.3)) {
        known.extend(account_ids_of(db, merchant_id, &wanted, first_now).await?);
    }
    let mut deltas: BTreeMap<i64, i64> = BTreeMap::new();
    let mut transactions = Vec::with_capacity(prepared.len());
    for (cause, lines, minors, now) in prepared {
        let accounts: Vec<i64> = lines.iter().map(|l| known[&(l.owner, l.account)]).collect();
        for (account, minor) in accounts.iter().zip(&minors) {
            *deltas.entry(*account).or_default() += minor;
        }
        transactions.push(PlannedTransaction {
            cause: cause.clone(),
            now,
            lines: lines.into_iter().cloned().collect(),
            minors,
            accounts,
        });
    }
    deltas.retain(|_, delta| *delta != 0);
    Ok(Some(PlannedPostings {
        transactions,
        deltas,
    }))
}

fn transaction_row(
    merchant_id: i64,
    cause: &Cause,
    now: DateTime<Utc>,
) -> ledger_transaction::ActiveModel {
    ledger_transaction::ActiveModel {
        merchant_id: Set(merchant_id),
        cause: Set(cause.kind.into()),
        order_id: Set(cause.order_id),
        withdrawal_id: Set(cause.withdrawal_id),
        memo: Set(cause.memo.clone()),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Inserts transactions in one statement; their ids in the order given (a multi-row insert
/// numbers its rows in order).
async fn insert_transactions(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    causes: &[(&Cause, DateTime<Utc>)],
) -> AppResult<Vec<i64>> {
    if causes.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = ledger_transaction::Entity::insert_many(
        causes
            .iter()
            .map(|(cause, now)| transaction_row(merchant_id, cause, *now)),
    )
    .exec_with_returning_keys(db)
    .await?;
    let mut ids: Vec<i64> = inserted;
    ids.sort_unstable();
    if ids.len() != causes.len() {
        return Err(AppError::Internal(anyhow::anyhow!(
            "{} of {} ledger transactions were inserted",
            ids.len(),
            causes.len()
        )));
    }
    Ok(ids)
}

/// The most rows one insert of postings carries (bind parameters stay well below every
/// backend's limit).
const POSTINGS_PER_INSERT: usize = 500;

/// A posting to insert: (transaction, cause, time, line, amount in minor units, account).
type PostingRow<'a> = (i64, &'a Cause, DateTime<Utc>, &'a Posting, i64, i64);

async fn insert_postings(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    rows: Vec<PostingRow<'_>>,
) -> AppResult<()> {
    for chunk in rows.chunks(POSTINGS_PER_INSERT) {
        posting_rows(merchant_id, chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn posting_rows(
    merchant_id: i64,
    rows: &[PostingRow<'_>],
) -> sea_orm::Insert<ledger_posting::ActiveModel> {
    ledger_posting::Entity::insert_many(rows.iter().map(
        |&(transaction, cause, now, line, minor, account_id)| ledger_posting::ActiveModel {
            transaction_id: Set(transaction),
            account_id: Set(account_id),
            merchant_id: Set(merchant_id),
            unit: Set(line.account.unit().as_str().into()),
            amount: Set(minor),
            kind: Set(line.kind.into()),
            order_id: Set(cause.order_id),
            created_at: Set(now),
            ..Default::default()
        },
    ))
}

/// The non-zero lines of a transaction and their amounts in minor units, checked to balance
/// per unit; `None` when every line is zero (nothing to write).
fn balanced<'p>(
    cause: &Cause,
    postings: &'p [Posting],
) -> AppResult<Option<(Vec<&'p Posting>, Vec<i64>)>> {
    let lines: Vec<&Posting> = postings.iter().filter(|p| !p.amount.is_zero()).collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let mut sums: BTreeMap<Unit, i64> = BTreeMap::new();
    let mut minors = Vec::with_capacity(lines.len());
    for line in &lines {
        let unit = line.account.unit();
        let minor = unit.to_minor(line.amount).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "{} has more places than {}",
                line.amount,
                unit.as_str()
            ))
        })?;
        *sums.entry(unit).or_default() += minor;
        minors.push(minor);
    }
    if let Some((unit, sum)) = sums.iter().find(|(_, sum)| **sum != 0) {
        return Err(AppError::Internal(anyhow::anyhow!(
            "unbalanced {} transaction ({}): {} {}",
            cause.kind,
            unit.as_str(),
            sum,
            lines
                .iter()
                .map(|l| format!("{:?}", l))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }

    Ok(Some((lines, minors)))
}
