//! Shoppers joining merchants by scanning codes, and the membership lists.

use chrono::{DateTime, Utc};
use entity::{membership, referral_code, user};
use rand::Rng;
use sea_orm::{
    sea_query::{Expr, Func, LikeExpr, Query},
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::{
    error::{AppError, AppResult},
    live::{outbox, EventKind},
    rules::{
        referral::{decide_join, JoinDecision, ScannedCode},
        scene::{SceneKind, SceneSigner},
    },
};

/// How many times a fresh member code is drawn before giving up (each draw collides with
/// probability members / 10^8).
const MEMBER_CODE_TRIES: usize = 8;

pub struct Joined {
    pub membership: membership::Model,
    /// `false` when the shopper was already a member: nothing was changed.
    pub newly_joined: bool,
}

pub async fn find_membership(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
) -> AppResult<Option<membership::Model>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::MerchantId.eq(merchant_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

pub async fn memberships_of_user(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> AppResult<Vec<membership::Model>> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::Id)
        .all(db)
        .await?)
}

/// A page of a merchant's members, newest first: those with an id below `before`, and with
/// `search`, only those whose member code starts with it or whose nickname contains it.
pub async fn members_page(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    search: Option<&str>,
    before: Option<i64>,
    limit: u64,
) -> AppResult<Vec<membership::Model>> {
    let mut query = membership::Entity::find()
        .filter(membership::Column::MerchantId.eq(merchant_id))
        .order_by_desc(membership::Column::Id)
        .limit(limit);
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let escaped = escape_like(search);
        let nicknames = Query::select()
            .column(user::Column::Id)
            .from(user::Entity)
            .and_where(
                Expr::expr(Func::lower(Expr::col(user::Column::Nickname)))
                    .like(LikeExpr::new(format!("%{}%", escaped.to_lowercase())).escape('\\')),
            )
            .to_owned();
        query = query.filter(
            Condition::any()
                .add(
                    membership::Column::MemberCode
                        .like(LikeExpr::new(format!("{escaped}%")).escape('\\')),
                )
                .add(membership::Column::UserId.in_subquery(nicknames)),
        );
    }
    if let Some(before) = before {
        query = query.filter(membership::Column::Id.lt(before));
    }
    Ok(query.all(db).await?)
}

/// `text` matched literally inside a `LIKE` pattern (escape character `\`).
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn referral_count(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    referrer_id: i64,
) -> AppResult<u64> {
    Ok(membership::Entity::find()
        .filter(membership::Column::MerchantId.eq(merchant_id))
        .filter(membership::Column::ReferrerId.eq(referrer_id))
        .count(db)
        .await?)
}

/// The member's personal referral code at this merchant.
pub async fn referral_code_of(
    db: &impl ConnectionTrait,
    member: &membership::Model,
) -> AppResult<referral_code::Model> {
    referral_code::Entity::find()
        .filter(referral_code::Column::MerchantId.eq(member.merchant_id))
        .filter(referral_code::Column::ReferrerId.eq(member.user_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("member {} has no code", member.id)))
}

/// A shopper scans a scene: joins the merchant on the first scan, nothing changes later.
pub async fn join_by_scene(
    db: &DatabaseConnection,
    scenes: &SceneSigner,
    user_id: i64,
    scene: &str,
    now: DateTime<Utc>,
) -> AppResult<Joined> {
    let scene = scene.trim();
    let kind = scenes
        .verify(scene)
        .map_err(|e| AppError::invalid(e.to_string()))?;
    let code = referral_code::Entity::find()
        .filter(referral_code::Column::Scene.eq(scene))
        .one(db)
        .await?
        .ok_or_else(|| AppError::invalid("this code is not known (it may have been withdrawn)"))?;
    if (kind == SceneKind::Referral) != code.referrer_id.is_some() {
        return Err(AppError::Internal(anyhow::anyhow!(
            "scene {scene} kind mismatch"
        )));
    }
    let scanned = ScannedCode {
        merchant_id: code.merchant_id,
        store_id: code.store_id,
        referrer_id: code.referrer_id,
    };
    let referral_scene = scenes.mint(SceneKind::Referral);
    let joined = db
        .transaction::<_, _, AppError>(|tx| {
            Box::pin(async move {
                crate::db::claim_writer(tx).await?;
                super::queue::lock_merchant(tx, scanned.merchant_id, now).await?;
                let existing = find_membership(tx, scanned.merchant_id, user_id).await?;
                let referrer_is_member = match scanned.referrer_id {
                    Some(referrer) => find_membership(tx, scanned.merchant_id, referrer)
                        .await?
                        .is_some(),
                    None => false,
                };
                let decision =
                    decide_join(user_id, scanned, existing.is_some(), referrer_is_member)
                        .map_err(|e| AppError::invalid(e.to_string()))?;
                match (decision, existing) {
                    (JoinDecision::AlreadyMember, Some(membership)) => Ok(Joined {
                        membership,
                        newly_joined: false,
                    }),
                    (
                        JoinDecision::Join {
                            store_id,
                            referrer_id,
                        },
                        _,
                    ) => {
                        insert_membership(
                            tx,
                            scanned.merchant_id,
                            user_id,
                            store_id,
                            referrer_id,
                            referral_scene,
                            now,
                        )
                        .await
                    }
                    (JoinDecision::AlreadyMember, None) => Err(AppError::Internal(
                        anyhow::anyhow!("join decision without membership"),
                    )),
                }
            })
        })
        .await?;
    Ok(joined)
}

/// Inserts the membership and its referral code. A concurrent scan by the same shopper may
/// have inserted first: then that membership stands and this scan changes nothing.
async fn insert_membership(
    tx: &impl ConnectionTrait,
    merchant_id: i64,
    user_id: i64,
    store_id: i64,
    referrer_id: Option<i64>,
    referral_scene: String,
    now: DateTime<Utc>,
) -> AppResult<Joined> {
    for _ in 0..MEMBER_CODE_TRIES {
        let member_code = format!("{:08}", rand::thread_rng().gen_range(0..100_000_000u32));
        let inserted = membership::Entity::insert(membership::ActiveModel {
            user_id: Set(user_id),
            merchant_id: Set(merchant_id),
            store_id: Set(Some(store_id)),
            referrer_id: Set(referrer_id),
            member_code: Set(member_code),
            joined_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::new()
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
        let found = find_membership(tx, merchant_id, user_id)
            .await?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("membership vanished")));
        match (inserted, found) {
            (1, Ok(membership)) => {
                referral_code::Entity::insert(referral_code::ActiveModel {
                    merchant_id: Set(merchant_id),
                    store_id: Set(store_id),
                    referrer_id: Set(Some(user_id)),
                    scene: Set(referral_scene),
                    created_at: Set(now),
                    ..Default::default()
                })
                .exec_without_returning(tx)
                .await?;
                let kind = EventKind::MemberJoined {
                    user_id,
                    referrer_id,
                };
                outbox::emit(tx, merchant_id, kind, vec![], None, now).await?;
                return Ok(Joined {
                    membership,
                    newly_joined: true,
                });
            }
            (_, Ok(membership)) => {
                return Ok(Joined {
                    membership,
                    newly_joined: false,
                })
            }
            // The member code collided with another member's: draw again.
            (_, Err(_)) => continue,
        }
    }
    Err(AppError::Internal(anyhow::anyhow!(
        "no free member code after {MEMBER_CODE_TRIES} draws"
    )))
}
