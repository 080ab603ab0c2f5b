//! Logging in: staff and the platform administrator by password, shoppers through WeChat,
//! systems with API keys; and what makes a login stop working.

use std::{net::IpAddr, sync::LazyLock};

use chrono::{DateTime, Utc};
use entity::{api_key, platform_admin, staff, user};
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};

use crate::{
    auth::{
        hash_password, verify_password, wechat::WechatIdentity, LoginLimiter, Principal, Rejection,
        StaffRole, StaffRow, TokenError, TokenKeys,
    },
    error::{AppError, AppResult},
};

/// Who a username and password belong to.
pub enum StaffAccount {
    Admin(platform_admin::Model),
    Staff(staff::Model),
}

impl StaffAccount {
    pub fn principal(&self) -> AppResult<Principal> {
        Ok(match self {
            Self::Admin(admin) => Principal::Admin { admin_id: admin.id },
            Self::Staff(s) => Principal::Staff {
                staff_id: Some(s.id),
                merchant_id: s.merchant_id,
                role: role_of(s)?,
            },
        })
    }

    /// The credentials version its tokens are issued at.
    pub fn credentials_version(&self) -> i64 {
        match self {
            Self::Admin(admin) => admin.credentials_version,
            Self::Staff(s) => s.credentials_version,
        }
    }
}

fn role_of(s: &staff::Model) -> AppResult<StaffRole> {
    StaffRole::parse(&s.role)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("staff {} has role {:?}", s.id, s.role)))
}

/// Checks a username and password. Attempts are limited per username and per client
/// `address` before anything is read; an unknown username costs one password check, as a
/// known one does, so the time of the answer tells nothing.
pub async fn staff_login(
    db: &impl ConnectionTrait,
    limiter: &LoginLimiter,
    address: Option<IpAddr>,
    username: &str,
    password: &str,
) -> AppResult<StaffAccount> {
    let username = username.trim().to_lowercase();
    let mut keys = vec![format!("user:{username}")];
    if let Some(address) = address {
        keys.push(format!("addr:{address}"));
    }
    limiter
        .attempt(&keys, std::time::Instant::now())
        .map_err(|seconds| AppError::TooManyAttempts {
            message: format!("too many login attempts; try again in {seconds} s"),
            retry_after_seconds: seconds,
        })?;
    let account = if let Some(admin) = platform_admin::Entity::find()
        .filter(platform_admin::Column::Username.eq(&username))
        .one(db)
        .await?
    {
        Some((admin.password_hash.clone(), StaffAccount::Admin(admin)))
    } else {
        staff::Entity::find()
            .filter(staff::Column::Username.eq(&username))
            .one(db)
            .await?
            .map(|s| (s.password_hash.clone(), StaffAccount::Staff(s)))
    };
    let hash = account
        .as_ref()
        .map_or_else(|| UNKNOWN_USER_HASH.clone(), |(hash, _)| hash.clone());
    let password = password.to_owned();
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    match account {
        Some((_, StaffAccount::Staff(s))) if matches && s.disabled => Err(
            AppError::unauthenticated("this account is disabled; ask the owner"),
        ),
        Some((_, account)) if matches => Ok(account),
        // One answer for an unknown user and a wrong password: usernames are not disclosed.
        _ => Err(AppError::unauthenticated("wrong username or password")),
    }
}

/// A hash no password matches, checked for unknown usernames so they cost what a wrong
/// password costs.
static UNKNOWN_USER_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password("no account has this password").expect("hashing a constant password")
});

/// The caller of a request from its `Authorization` header (`Bearer <token>` or
/// `Bearer fhk_<id>_<secret>`), and when its token expires. A token stands while its account
/// exists, is enabled and has not changed its password since; a staff token acts with the
/// account's current role. A refused credential is [`Principal::Rejected`]; only a database
/// failure is an error.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    tokens: &TokenKeys,
    header: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<(Principal, Option<DateTime<Utc>>)> {
    let Some(credential) = header.map(bearer_credential).filter(|c| !c.is_empty()) else {
        return Ok((Principal::Anonymous, None));
    };
    if let Some(key) = credential.strip_prefix(API_KEY_PREFIX) {
        return Ok((api_key_principal(db, key, now).await?, None));
    }
    let verified = match tokens.verify(credential, now) {
        Ok(verified) => verified,
        Err(TokenError::Expired) => return Ok((Principal::Rejected(Rejection::Expired), None)),
        Err(TokenError::Invalid) => return Ok((Principal::Rejected(Rejection::Invalid), None)),
    };
    let principal = match verified.principal {
        Principal::Admin { admin_id } => {
            match platform_admin::Entity::find_by_id(admin_id).one(db).await? {
                Some(admin) if admin.credentials_version == verified.version => verified.principal,
                Some(_) => Principal::Rejected(Rejection::Revoked),
                None => Principal::Rejected(Rejection::Invalid),
            }
        }
        Principal::Staff {
            staff_id: Some(staff_id),
            ..
        } => {
            let row = match tokens.staff.get(staff_id) {
                Some(row) => Some(row),
                None => {
                    let row =
                        staff::Entity::find_by_id(staff_id)
                            .one(db)
                            .await?
                            .map(|s| StaffRow {
                                merchant_id: s.merchant_id,
                                role: s.role,
                                disabled: s.disabled,
                                credentials_version: s.credentials_version,
                            });
                    if let Some(row) = &row {
                        tokens.staff.put(staff_id, row.clone());
                    }
                    row
                }
            };
            match row {
                Some(s) if !s.disabled && s.credentials_version == verified.version => {
                    Principal::Staff {
                        staff_id: Some(staff_id),
                        merchant_id: s.merchant_id,
                        role: StaffRole::parse(&s.role).ok_or_else(|| {
                            AppError::Internal(anyhow::anyhow!("unknown staff role {}", s.role))
                        })?,
                    }
                }
                Some(_) => Principal::Rejected(Rejection::Revoked),
                None => Principal::Rejected(Rejection::Invalid),
            }
        }
        other => other,
    };
    Ok((principal, Some(verified.expires_at)))
}

fn bearer_credential(value: &str) -> &str {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim()
}

pub const API_KEY_PREFIX: &str = "fhk_";

/// The merchant staff an API key (`<id>_<secret>` after its prefix) acts as.
async fn api_key_principal(
    db: &impl ConnectionTrait,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<Principal> {
    let Some((id, secret)) = key.split_once('_') else {
        return Ok(Principal::Rejected(Rejection::Invalid));
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(Principal::Rejected(Rejection::Invalid));
    };
    let Some(found) = api_key::Entity::find_by_id(id).one(db).await? else {
        return Ok(Principal::Rejected(Rejection::Invalid));
    };
    if !same_bytes(secret_hash(secret).as_bytes(), found.secret_hash.as_bytes()) {
        return Ok(Principal::Rejected(Rejection::Invalid));
    }
    if found.revoked_at.is_some() {
        return Ok(Principal::Rejected(Rejection::Revoked));
    }
    let Some(role) = StaffRole::parse(&found.role) else {
        return Err(AppError::Internal(anyhow::anyhow!(
            "API key {} has role {:?}",
            found.id,
            found.role
        )));
    };
    // Noted at most once a minute, so a busy system does not write on every request.
    if found
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::minutes(1))
    {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(found.id))
            .exec(db)
            .await?;
    }
    Ok(Principal::Staff {
        staff_id: None,
        merchant_id: found.merchant_id,
        role,
    })
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares in time that depends only on the lengths.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new API key of a merchant and its secret, which is shown only now.
pub async fn create_api_key(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    name: &str,
    role: StaffRole,
    created_by: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<(api_key::Model, String)> {
    let name = crate::services::clean_name(name, "key name", 64)?;
    let secret = random_secret();
    let created = api_key::ActiveModel {
        merchant_id: Set(merchant_id),
        name: Set(name),
        role: Set(role.as_str().into()),
        secret_hash: Set(secret_hash(&secret)),
        created_by: Set(created_by),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let key = format!("{API_KEY_PREFIX}{}_{secret}", created.id);
    Ok((created, key))
}

/// 32 random bytes, as 64 hex digits.
fn random_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

pub async fn api_keys_of(
    db: &impl ConnectionTrait,
    merchant_id: i64,
) -> AppResult<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::MerchantId.eq(merchant_id))
        .order_by_asc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// A key of `merchant_id` (another merchant's key is not found).
pub async fn find_api_key(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    id: i64,
) -> AppResult<api_key::Model> {
    api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|key| key.merchant_id == merchant_id)
        .ok_or(AppError::NotFound("API key"))
}

/// Revokes a key (again: the first revocation's time stays).
pub async fn revoke_api_key(
    db: &impl ConnectionTrait,
    key: api_key::Model,
    now: DateTime<Utc>,
) -> AppResult<api_key::Model> {
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut active: api_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(now));
    Ok(active.update(db).await?)
}

/// What an owner may change of a staff account.
#[derive(Default)]
pub struct StaffChange {
    pub role: Option<StaffRole>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// Changes a staff account of `merchant_id` on behalf of `by` (an owner). Disabling it or
/// setting a password revokes every token issued before; a role change applies to them at
/// once. Owners cannot disable or demote themselves, so a merchant always keeps an owner.
pub async fn update_staff(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    staff_id: i64,
    by: Option<i64>,
    change: StaffChange,
) -> AppResult<staff::Model> {
    let hash = match &change.password {
        Some(password) => Some(hash_password(password)?),
        None => None,
    };
    let found = staff::Entity::find_by_id(staff_id)
        .one(db)
        .await?
        .filter(|s| s.merchant_id == merchant_id)
        .ok_or(AppError::NotFound("staff member"))?;
    if by == Some(found.id) {
        if change.disabled == Some(true) {
            return Err(AppError::invalid("you cannot disable your own account"));
        }
        if change.role.is_some_and(|role| role != StaffRole::Owner) {
            return Err(AppError::invalid("you cannot give up your own owner role"));
        }
    }
    let revokes = hash.is_some() || (change.disabled == Some(true) && !found.disabled);
    let version = found.credentials_version;
    let mut active: staff::ActiveModel = found.into();
    if let Some(role) = change.role {
        active.role = Set(role.as_str().into());
    }
    if let Some(disabled) = change.disabled {
        active.disabled = Set(disabled);
    }
    if let Some(hash) = hash {
        active.password_hash = Set(hash);
    }
    if revokes {
        active.credentials_version = Set(version + 1);
    }
    Ok(active.update(db).await?)
}

/// Finds or creates the shopper of a WeChat identity (records the unionid once known).
pub async fn shopper_for(
    db: &impl ConnectionTrait,
    identity: &WechatIdentity,
    now: DateTime<Utc>,
) -> AppResult<user::Model> {
    user::Entity::insert(user::ActiveModel {
        openid: Set(identity.openid.clone()),
        unionid: Set(identity.unionid.clone()),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(user::Column::Openid)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let found = user::Entity::find()
        .filter(user::Column::Openid.eq(&identity.openid))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("shopper row vanished")))?;
    if identity.unionid.is_some() && found.unionid != identity.unionid {
        let mut active: user::ActiveModel = found.into();
        active.unionid = Set(identity.unionid.clone());
        return Ok(active.update(db).await?);
    }
    Ok(found)
}

pub async fn set_nickname(
    db: &impl ConnectionTrait,
    user_id: i64,
    nickname: &str,
) -> AppResult<user::Model> {
    let nickname = crate::services::clean_name(nickname, "nickname", 32)?;
    let found = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let mut active: user::ActiveModel = found.into();
    active.nickname = Set(Some(nickname));
    Ok(active.update(db).await?)
}
