//! Logging in: staff and the platform administrator by password, shoppers through WeChat.

use chrono::{DateTime, Utc};
use entity::{platform_admin, staff, user};
use sea_orm::{
    sea_query::OnConflict, ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    EntityTrait, QueryFilter,
};

use crate::{
    auth::{verify_password, wechat::WechatIdentity, Principal, StaffRole},
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
                staff_id: s.id,
                merchant_id: s.merchant_id,
                role: StaffRole::parse(&s.role).ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("staff {} has role {:?}", s.id, s.role))
                })?,
            },
        })
    }
}

pub async fn staff_login(
    db: &impl ConnectionTrait,
    username: &str,
    password: &str,
) -> AppResult<StaffAccount> {
    let username = username.trim().to_lowercase();
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
    match account {
        Some((hash, account)) if verify_password(password, &hash) => Ok(account),
        // One answer for an unknown user and a wrong password: usernames are not disclosed.
        _ => Err(AppError::unauthenticated("wrong username or password")),
    }
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
