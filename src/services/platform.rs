//! The platform's own settings and its administrator account.

use chrono::{DateTime, Utc};
use entity::{platform_admin, platform_setting};
use rand::{distributions::Alphanumeric, Rng};
use sea_orm::{sea_query::OnConflict, ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::{auth::hash_password, error::AppResult};

pub const ADMIN_USERNAME: &str = "admin";
const JWT_SECRET_KEY: &str = "jwt_secret";

/// The development signing secret, generated once and kept in the database so tokens survive
/// restarts (and two instances on one database agree). Production sets `JWT_SECRET`.
pub async fn development_secret(db: &impl ConnectionTrait) -> AppResult<String> {
    if let Some(row) = platform_setting::Entity::find_by_id(JWT_SECRET_KEY)
        .one(db)
        .await?
    {
        return Ok(row.value);
    }
    let generated: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    platform_setting::Entity::insert(platform_setting::ActiveModel {
        key: Set(JWT_SECRET_KEY.into()),
        value: Set(generated),
    })
    .on_conflict(
        OnConflict::column(platform_setting::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    // Another instance may have won the race: whatever is stored is the secret.
    let row = platform_setting::Entity::find_by_id(JWT_SECRET_KEY)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the development secret vanished"))
        .map_err(crate::error::AppError::Internal)?;
    Ok(row.value)
}

/// Creates the platform account `admin`, or sets its password.
pub async fn bootstrap_admin(
    db: &impl ConnectionTrait,
    password: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let hash = hash_password(password)?;
    platform_admin::Entity::insert(platform_admin::ActiveModel {
        username: Set(ADMIN_USERNAME.into()),
        password_hash: Set(hash),
        created_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(platform_admin::Column::Username)
            .update_column(platform_admin::Column::PasswordHash)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    tracing::info!("platform account {ADMIN_USERNAME} is ready");
    Ok(())
}
