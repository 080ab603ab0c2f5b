//! Batch loading for nested fields: every object of a page asks for its user, store, queue
//! entry or balance, and the request's [`Batcher`] gathers the keys asked for together into
//! one statement per kind. A page of 100 orders with their users, stores, entries and
//! rewards costs the same few statements as a page of 10.
//!
//! The loader keeps no cache between batches: subscriptions re-read the truth at every
//! event, and nothing a request wrote is ever served stale. Loading by id checks nothing;
//! the resolver that asks has already decided the caller may see it.

use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use entity::{membership, merchant, order, queue_entry, refund, store, user};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

use super::{batch::Batcher, coalesce::Coalescer};
use crate::{
    error::{AppError, AppResult},
    ledger::{self, AccountKind},
    services::{programs, queue, wallet},
};

/// The batch loader of a request (see [`super::batch`]).
pub type Loaders = Arc<Batcher>;

/// `merchant(id)` lookups of every request, read together when they come together (see
/// [`super::coalesce`]).
pub type SharedMerchants = Coalescer<MerchantId, Db>;

pub fn shared_merchants(db: DatabaseConnection) -> Arc<SharedMerchants> {
    Arc::new(Coalescer::new(Db(db)))
}

/// The loader that subscriptions use (each request run by the HTTP handler brings its own).
pub fn new(db: DatabaseConnection) -> Loaders {
    Batcher::on_timer(Arc::new(Db(db)))
}

/// A loader for one request that [`super::batch::drive`] runs.
pub fn for_request(db: DatabaseConnection) -> Loaders {
    Batcher::driven(Arc::new(Db(db)))
}

/// The request's loader, from a resolver's context.
pub fn loader<'a>(ctx: &'a async_graphql::Context<'_>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

pub struct Db(DatabaseConnection);

/// A loader's error: shared by every key of the batch that failed.
pub type Failure = Arc<AppError>;

/// Turns a batch's shared failure back into the caller's own error.
pub fn own(failure: Failure) -> AppError {
    failure.duplicate()
}

/// Loads one value by key through the batch, as the caller's own result.
pub async fn one<K, V>(ctx: &async_graphql::Context<'_>, key: K) -> AppResult<Option<V>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    Db: Loader<K, Value = V, Error = Failure>,
    V: Send + Sync + Clone + 'static,
{
    loader(ctx).load_one(key).await.map_err(own)
}

fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> i64) -> Vec<i64> {
    let mut ids: Vec<i64> = keys.iter().map(|k| id(*k)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub i64);

impl Loader<UserId> for Db {
    type Value = user::Model;
    type Error = Failure;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, user::Model>, Failure> {
        let rows = user::Entity::find()
            .filter(user::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|r| (UserId(r.id), r)).collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StoreId(pub i64);

impl Loader<StoreId> for Db {
    type Value = store::Model;
    type Error = Failure;

    async fn load(&self, keys: &[StoreId]) -> Result<HashMap<StoreId, store::Model>, Failure> {
        let rows = store::Entity::find()
            .filter(store::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|r| (StoreId(r.id), r)).collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MerchantId(pub i64);

impl Loader<MerchantId> for Db {
    type Value = merchant::Model;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[MerchantId],
    ) -> Result<HashMap<MerchantId, merchant::Model>, Failure> {
        let rows = merchant::Entity::find()
            .filter(merchant::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|r| (MerchantId(r.id), r)).collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderId(pub i64);

impl Loader<OrderId> for Db {
    type Value = order::Model;
    type Error = Failure;

    async fn load(&self, keys: &[OrderId]) -> Result<HashMap<OrderId, order::Model>, Failure> {
        let rows = order::Entity::find()
            .filter(order::Column::Id.is_in(ids(keys, |k| k.0)))
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows.into_iter().map(|r| (OrderId(r.id), r)).collect())
    }
}

/// The queue entry an order made (if any).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryOfOrder(pub i64);

impl Loader<EntryOfOrder> for Db {
    type Value = queue_entry::Model;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[EntryOfOrder],
    ) -> Result<HashMap<EntryOfOrder, queue_entry::Model>, Failure> {
        let rows = queue_entry::Entity::find()
            .filter(queue_entry::Column::OrderId.is_in(ids(keys, |k| k.0)))
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        Ok(rows
            .into_iter()
            .map(|r| (EntryOfOrder(r.order_id), r))
            .collect())
    }
}

/// Every reward an order's completion made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RewardsOfOrder(pub i64);

impl Loader<RewardsOfOrder> for Db {
    type Value = Vec<wallet::Reward>;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[RewardsOfOrder],
    ) -> Result<HashMap<RewardsOfOrder, Vec<wallet::Reward>>, Failure> {
        let mut by_order = wallet::rewards_of_orders(&self.0, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .map(|k| (*k, by_order.remove(&k.0).unwrap_or_default()))
            .collect())
    }
}

/// An order's WeChat Pay refunds, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefundsOfOrder(pub i64);

impl Loader<RefundsOfOrder> for Db {
    type Value = Vec<refund::Model>;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[RefundsOfOrder],
    ) -> Result<HashMap<RefundsOfOrder, Vec<refund::Model>>, Failure> {
        let rows = refund::Entity::find()
            .filter(refund::Column::OrderId.is_in(ids(keys, |k| k.0)))
            .order_by_asc(refund::Column::Id)
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut by_order: HashMap<RefundsOfOrder, Vec<refund::Model>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            by_order
                .entry(RefundsOfOrder(row.order_id))
                .or_default()
                .push(row);
        }
        Ok(by_order)
    }
}

/// A shopper's memberships, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MembershipsOfUser(pub i64);

impl Loader<MembershipsOfUser> for Db {
    type Value = Vec<membership::Model>;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[MembershipsOfUser],
    ) -> Result<HashMap<MembershipsOfUser, Vec<membership::Model>>, Failure> {
        let rows = membership::Entity::find()
            .filter(membership::Column::UserId.is_in(ids(keys, |k| k.0)))
            .order_by_asc(membership::Column::Id)
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut by_user: HashMap<MembershipsOfUser, Vec<membership::Model>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            by_user
                .entry(MembershipsOfUser(row.user_id))
                .or_default()
                .push(row);
        }
        Ok(by_user)
    }
}

/// A member's queue entries at one merchant, newest first (at most 200).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntriesOfMember {
    pub merchant_id: i64,
    pub user_id: i64,
}

impl Loader<EntriesOfMember> for Db {
    type Value = Vec<queue_entry::Model>;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[EntriesOfMember],
    ) -> Result<HashMap<EntriesOfMember, Vec<queue_entry::Model>>, Failure> {
        let mut wanted = Condition::any();
        for key in keys {
            wanted = wanted.add(
                Condition::all()
                    .add(queue_entry::Column::MerchantId.eq(key.merchant_id))
                    .add(queue_entry::Column::UserId.eq(key.user_id)),
            );
        }
        let rows = queue_entry::Entity::find()
            .filter(wanted)
            .order_by_desc(queue_entry::Column::Ordinal)
            .all(&self.0)
            .await
            .map_err(|e| Arc::new(AppError::from(e)))?;
        let mut by_member: HashMap<EntriesOfMember, Vec<queue_entry::Model>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in rows {
            let key = EntriesOfMember {
                merchant_id: row.merchant_id,
                user_id: row.user_id,
            };
            let entries = by_member.entry(key).or_default();
            if entries.len() < queue::MEMBER_ENTRIES {
                entries.push(row);
            }
        }
        Ok(by_member)
    }
}

/// The programs a merchant has in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProgramsOf(pub i64);

impl Loader<ProgramsOf> for Db {
    type Value = programs::Versioned;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[ProgramsOf],
    ) -> Result<HashMap<ProgramsOf, programs::Versioned>, Failure> {
        let mut current = programs::current_of(&self.0, &ids(keys, |k| k.0)).await?;
        Ok(keys
            .iter()
            .filter_map(|k| current.remove(&k.0).map(|v| (*k, v)))
            .collect())
    }
}

/// The head of a merchant's queue with `slots` active places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueHeadOf {
    pub merchant_id: i64,
    pub slots: i32,
}

impl Loader<QueueHeadOf> for Db {
    type Value = queue::QueueHead;
    type Error = Failure;

    async fn load(
        &self,
        keys: &[QueueHeadOf],
    ) -> Result<HashMap<QueueHeadOf, queue::QueueHead>, Failure> {
        // Pages hold one merchant's entries: one read per distinct queue.
        let mut heads = HashMap::new();
        for key in keys {
            let head = queue::head(&self.0, key.merchant_id, key.slots).await?;
            heads.insert(*key, head);
        }
        Ok(heads)
    }
}

/// A merchant's recent pace of completions, as of `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaceOf {
    pub merchant_id: i64,
    pub at: DateTime<Utc>,
}

impl Loader<PaceOf> for Db {
    type Value = Option<f64>;
    type Error = Failure;

    async fn load(&self, keys: &[PaceOf]) -> Result<HashMap<PaceOf, Option<f64>>, Failure> {
        let mut paces = HashMap::new();
        for key in keys {
            let pace = queue::seconds_per_completion(&self.0, key.merchant_id, key.at).await?;
            paces.insert(*key, pace);
        }
        Ok(paces)
    }
}

/// One of a shopper's balances at a merchant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BalanceOf {
    pub merchant_id: i64,
    pub user_id: i64,
    pub kind: AccountKind,
}

impl Loader<BalanceOf> for Db {
    type Value = Decimal;
    type Error = Failure;

    async fn load(&self, keys: &[BalanceOf]) -> Result<HashMap<BalanceOf, Decimal>, Failure> {
        let wanted: Vec<(i64, i64, AccountKind)> = keys
            .iter()
            .map(|k| (k.merchant_id, k.user_id, k.kind))
            .collect();
        let found = ledger::shopper_balances(&self.0, &wanted).await?;
        Ok(keys
            .iter()
            .map(|k| {
                let minor = found
                    .get(&(k.merchant_id, k.user_id, k.kind))
                    .copied()
                    .unwrap_or(0);
                (*k, k.kind.unit().from_minor(minor))
            })
            .collect())
    }
}
