//! Merchants, their stores and their staff.

use chrono::{DateTime, Utc};
use entity::{merchant, platform_admin, referral_code, staff, store};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, SqlErr, TransactionTrait,
};

use super::clean_name;
use crate::{
    auth::{hash_password, StaffRole},
    error::{AppError, AppResult},
    rules::scene::{SceneKind, SceneSigner},
};

pub async fn find_merchant(db: &impl ConnectionTrait, id: i64) -> AppResult<merchant::Model> {
    merchant::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("merchant"))
}

pub async fn find_store(db: &impl ConnectionTrait, id: i64) -> AppResult<store::Model> {
    store::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("store"))
}

pub async fn stores_of(
    db: &impl ConnectionTrait,
    merchant_id: i64,
) -> AppResult<Vec<store::Model>> {
    Ok(store::Entity::find()
        .filter(store::Column::MerchantId.eq(merchant_id))
        .order_by_asc(store::Column::Id)
        .all(db)
        .await?)
}

pub async fn find_staff(db: &impl ConnectionTrait, id: i64) -> AppResult<staff::Model> {
    staff::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("staff member"))
}

/// The store's own code (the one printed for the counter).
pub async fn store_code(
    db: &impl ConnectionTrait,
    store_id: i64,
) -> AppResult<referral_code::Model> {
    referral_code::Entity::find()
        .filter(referral_code::Column::StoreId.eq(store_id))
        .filter(referral_code::Column::ReferrerId.is_null())
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("store {store_id} has no code")))
}

/// The zone a merchant's days start in when it names none.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// An IANA time zone name (`Asia/Shanghai`), or `INVALID_INPUT`.
pub fn parse_time_zone(name: &str) -> AppResult<chrono_tz::Tz> {
    name.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        AppError::InvalidInput(format!(
            "{name:?} is not an IANA time zone such as Asia/Shanghai"
        ))
    })
}

/// The zone of a merchant's days (a stored name that no longer parses counts as the default).
pub fn zone_of(merchant: &merchant::Model) -> chrono_tz::Tz {
    merchant
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai)
}

/// Renames a merchant or moves its days to another time zone.
pub async fn update_merchant(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    name: Option<&str>,
    time_zone: Option<&str>,
) -> AppResult<merchant::Model> {
    let name = name
        .map(|n| clean_name(n, "merchant name", 64))
        .transpose()?;
    let zone = time_zone.map(parse_time_zone).transpose()?;
    let found = find_merchant(db, merchant_id).await?;
    let mut active: merchant::ActiveModel = found.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(zone) = zone {
        active.time_zone = Set(zone.name().to_owned());
    }
    Ok(active.update(db).await?)
}

/// Creates a merchant and its owner account in one transaction.
pub async fn create_merchant(
    db: &sea_orm::DatabaseConnection,
    name: &str,
    time_zone: Option<&str>,
    owner_username: &str,
    owner_password: &str,
    now: DateTime<Utc>,
) -> AppResult<(merchant::Model, staff::Model)> {
    let name = clean_name(name, "merchant name", 64)?;
    let zone = parse_time_zone(time_zone.unwrap_or(DEFAULT_TIME_ZONE))?;
    let username = clean_username(owner_username)?;
    let hash = hash_password(owner_password)?;
    let result = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                let merchant = merchant::ActiveModel {
                    name: Set(name),
                    time_zone: Set(zone.name().to_owned()),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?;
                let owner =
                    insert_staff(tx, merchant.id, username, hash, StaffRole::Owner, now).await?;
                Ok((merchant, owner))
            })
        })
        .await?;
    Ok(result)
}

pub async fn create_store(
    db: &sea_orm::DatabaseConnection,
    scenes: &SceneSigner,
    merchant_id: i64,
    name: &str,
    now: DateTime<Utc>,
) -> AppResult<store::Model> {
    let name = clean_name(name, "store name", 64)?;
    find_merchant(db, merchant_id).await?;
    let scene = scenes.mint(SceneKind::Store);
    let created = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                let store = store::ActiveModel {
                    merchant_id: Set(merchant_id),
                    name: Set(name),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?;
                referral_code::ActiveModel {
                    merchant_id: Set(merchant_id),
                    store_id: Set(store.id),
                    referrer_id: Set(None),
                    scene: Set(scene),
                    created_at: Set(now),
                    ..Default::default()
                }
                .insert(tx)
                .await?;
                Ok(store)
            })
        })
        .await?;
    Ok(created)
}

/// Renames a store of `merchant_id` or sets whether its WeChat Pay orders complete at once.
pub async fn update_store(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    store_id: i64,
    name: Option<&str>,
    complete_on_payment: Option<bool>,
) -> AppResult<store::Model> {
    let name = name.map(|n| clean_name(n, "store name", 64)).transpose()?;
    let found = find_store(db, store_id).await?;
    if found.merchant_id != merchant_id {
        return Err(AppError::NotFound("store"));
    }
    let mut active: store::ActiveModel = found.into();
    if let Some(name) = name {
        active.name = Set(name);
    }
    if let Some(complete) = complete_on_payment {
        active.complete_on_payment = Set(complete);
    }
    Ok(active.update(db).await?)
}

pub async fn create_staff(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    username: &str,
    password: &str,
    role: StaffRole,
    now: DateTime<Utc>,
) -> AppResult<staff::Model> {
    let username = clean_username(username)?;
    let hash = hash_password(password)?;
    find_merchant(db, merchant_id).await?;
    insert_staff(db, merchant_id, username, hash, role, now).await
}

/// A merchant's staff accounts, oldest first.
pub async fn staff_of(db: &impl ConnectionTrait, merchant_id: i64) -> AppResult<Vec<staff::Model>> {
    Ok(staff::Entity::find()
        .filter(staff::Column::MerchantId.eq(merchant_id))
        .order_by_asc(staff::Column::Id)
        .all(db)
        .await?)
}

pub async fn staff_count(db: &impl ConnectionTrait, merchant_id: i64) -> AppResult<u64> {
    Ok(staff::Entity::find()
        .filter(staff::Column::MerchantId.eq(merchant_id))
        .count(db)
        .await?)
}

async fn insert_staff(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    username: String,
    password_hash: String,
    role: StaffRole,
    now: DateTime<Utc>,
) -> AppResult<staff::Model> {
    let taken_by_admin = platform_admin::Entity::find()
        .filter(platform_admin::Column::Username.eq(&username))
        .one(db)
        .await?
        .is_some();
    if taken_by_admin || username == super::platform::ADMIN_USERNAME {
        return Err(username_taken(&username));
    }
    staff::ActiveModel {
        merchant_id: Set(merchant_id),
        username: Set(username.clone()),
        password_hash: Set(password_hash),
        role: Set(role.as_str().into()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|err| unique_violation_as(err, || username_taken(&username)))
}

fn username_taken(username: &str) -> AppError {
    AppError::conflict(format!("the username {username:?} is taken"))
}

/// Turns a unique-constraint violation into the given client error; anything else stays
/// a server error.
pub fn unique_violation_as(err: DbErr, client: impl FnOnce() -> AppError) -> AppError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => client(),
        _ => err.into(),
    }
}

/// Usernames are 3 to 32 characters of lower-case letters, digits, `_`, `.` and `-`.
fn clean_username(username: &str) -> AppResult<String> {
    let username = username.trim().to_lowercase();
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if !(3..=32).contains(&username.len()) || !ok_chars {
        return Err(AppError::invalid(
            "a username is 3 to 32 characters of letters, digits, '_', '.' and '-'",
        ));
    }
    Ok(username)
}
