//! What a shopper holds at a merchant, and the history behind it.

use std::collections::HashMap;

use entity::{ledger_account, ledger_posting, ledger_transaction};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{
    error::AppResult,
    ledger::{self, AccountKind, Owner},
    rules::money::Unit,
};

#[derive(Clone, Debug, PartialEq)]
pub struct Balances {
    pub cash: Decimal,
    pub cash_on_hold: Decimal,
    pub points: i64,
}

pub async fn balances(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<Balances> {
    let owner = Owner::Shopper(user_id);
    let points = ledger::balance(db, merchant_id, owner, AccountKind::Points).await?;
    Ok(Balances {
        cash: ledger::balance(db, merchant_id, owner, AccountKind::Cash).await?,
        cash_on_hold: ledger::balance(db, merchant_id, owner, AccountKind::CashOnHold).await?,
        points: Unit::Points.to_minor(points).unwrap_or(0),
    })
}

/// One line of a shopper's history.
#[derive(Clone, Debug)]
pub struct Entry {
    pub posting: ledger_posting::Model,
    pub account: String,
    pub memo: Option<String>,
}

/// A page of the shopper's postings at a merchant, newest first (ids below `before`).
pub async fn history(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    before: Option<i64>,
    limit: u64,
) -> AppResult<Vec<Entry>> {
    let accounts = ledger_account::Entity::find()
        .filter(ledger_account::Column::MerchantId.eq(merchant_id))
        .filter(ledger_account::Column::OwnerKind.eq("USER"))
        .filter(ledger_account::Column::OwnerId.eq(user_id))
        .all(db)
        .await?;
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = ledger_posting::Entity::find()
        .filter(ledger_posting::Column::AccountId.is_in(accounts.iter().map(|a| a.id)))
        .order_by_desc(ledger_posting::Column::Id)
        .limit(limit);
    if let Some(before) = before {
        query = query.filter(ledger_posting::Column::Id.lt(before));
    }
    let postings = query.all(db).await?;
    let memos: Vec<(i64, Option<String>)> = ledger_transaction::Entity::find()
        .select_only()
        .column(ledger_transaction::Column::Id)
        .column(ledger_transaction::Column::Memo)
        .filter(ledger_transaction::Column::Id.is_in(postings.iter().map(|p| p.transaction_id)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(postings
        .into_iter()
        .map(|posting| Entry {
            account: accounts
                .iter()
                .find(|a| a.id == posting.account_id)
                .map(|a| a.kind.clone())
                .unwrap_or_default(),
            memo: memos
                .iter()
                .find(|(id, _)| *id == posting.transaction_id)
                .and_then(|(_, m)| m.clone()),
            posting,
        })
        .collect())
}

/// A reward an order caused: a credit to a shopper (or to a pool) made by its completion.
#[derive(Clone, Debug)]
pub struct Reward {
    pub kind: String,
    pub beneficiary: Option<i64>,
    pub amount: Decimal,
    pub unit: Unit,
}

pub const REWARD_KINDS: [&str; 7] = [
    "QUEUE_SHARE",
    "REFERRAL",
    "REFERRAL_SECOND_LEVEL",
    "POOL_CARRY",
    "REBATE_POINTS",
    "VALUE_ADDED_POINTS",
    "VALUE_ADDED_POOL",
];

/// Every reward each order's completion made, by order, in the order they were posted.
pub async fn rewards_of_orders(
    db: &impl ConnectionTrait,
    order_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<Reward>>> {
    let postings = ledger_posting::Entity::find()
        .filter(ledger_posting::Column::OrderId.is_in(order_ids.iter().copied()))
        .filter(ledger_posting::Column::Kind.is_in(REWARD_KINDS))
        .filter(ledger_posting::Column::Amount.gt(0))
        .order_by_asc(ledger_posting::Column::Id)
        .all(db)
        .await?;
    let mut account_ids: Vec<i64> = postings.iter().map(|p| p.account_id).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let accounts: HashMap<i64, ledger_account::Model> = ledger_account::Entity::find()
        .filter(ledger_account::Column::Id.is_in(account_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let mut by_order: HashMap<i64, Vec<Reward>> = HashMap::new();
    for p in postings {
        let (Some(order_id), Some(account), Some(unit)) = (
            p.order_id,
            accounts.get(&p.account_id),
            Unit::parse(&p.unit),
        ) else {
            continue;
        };
        by_order.entry(order_id).or_default().push(Reward {
            kind: p.kind.clone(),
            beneficiary: (account.owner_kind == "USER").then_some(account.owner_id),
            amount: unit.from_minor(p.amount),
            unit,
        });
    }
    Ok(by_order)
}
