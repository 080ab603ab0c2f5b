//! The platform's own settings and its administrator account.

use chrono::{DateTime, Utc};
use entity::{platform_admin, platform_setting};
use rand::{distributions::Alphanumeric, Rng};
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use crate::{
    auth::{hash_password, verify_password},
    error::AppResult,
};

pub const ADMIN_USERNAME: &str = "admin";
const JWT_SECRET_KEY: &str = "jwt_secret";
const SECRETS_KEY: &str = "secrets_key";

/// The development signing secret, generated once and kept in the database so tokens survive
/// restarts (and two instances on one database agree). Production sets `JWT_SECRET`.
pub async fn development_secret(db: &impl ConnectionTrait) -> AppResult<String> {
    development_setting(db, JWT_SECRET_KEY, || {
        rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect()
    })
    .await
}

/// The development secrets key (32 random bytes, base64), kept as the signing secret is.
/// Production sets `FENHONG_SECRETS_KEY`.
pub async fn development_secrets_key(db: &impl ConnectionTrait) -> AppResult<String> {
    development_setting(db, SECRETS_KEY, || {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
    })
    .await
}

/// A setting generated once on a development database; every instance reads the same.
async fn development_setting(
    db: &impl ConnectionTrait,
    key: &str,
    generate: impl FnOnce() -> String,
) -> AppResult<String> {
    if let Some(row) = platform_setting::Entity::find_by_id(key).one(db).await? {
        return Ok(row.value);
    }
    platform_setting::Entity::insert(platform_setting::ActiveModel {
        key: Set(key.into()),
        value: Set(generate()),
    })
    .on_conflict(
        OnConflict::column(platform_setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    // Another instance may have won the race: whatever is stored is the value.
    let row = platform_setting::Entity::find_by_id(key)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the development setting {key} vanished"))
        .map_err(crate::error::AppError::Internal)?;
    Ok(row.value)
}

/// Creates the platform account `admin`, or sets its password. A new password revokes the
/// account's tokens issued before; the same password keeps them.
pub async fn bootstrap_admin(
    db: &impl ConnectionTrait,
    password: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let existing = platform_admin::Entity::find()
        .filter(platform_admin::Column::Username.eq(ADMIN_USERNAME))
        .one(db)
        .await?;
    match existing {
        Some(admin) if verify_password(password, &admin.password_hash) => {}
        Some(admin) => {
            platform_admin::Entity::update_many()
                .col_expr(
                    platform_admin::Column::PasswordHash,
                    Expr::value(hash_password(password)?),
                )
                .col_expr(
                    platform_admin::Column::CredentialsVersion,
                    Expr::col(platform_admin::Column::CredentialsVersion).add(1),
                )
                .filter(platform_admin::Column::Id.eq(admin.id))
                .exec(db)
                .await?;
            tracing::info!("platform account {ADMIN_USERNAME}: new password; older logins revoked");
        }
        None => {
            platform_admin::Entity::insert(platform_admin::ActiveModel {
                username: Set(ADMIN_USERNAME.into()),
                password_hash: Set(hash_password(password)?),
                created_at: Set(now),
                ..Default::default()
            })
            .on_conflict(
                OnConflict::column(platform_admin::Column::Username)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        }
    }
    tracing::info!("platform account {ADMIN_USERNAME} is ready");
    Ok(())
}
