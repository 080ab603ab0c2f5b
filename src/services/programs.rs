//! Versioned reward programs: each change is a new version; completions record theirs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::program_version;
use rust_decimal::Decimal;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::merchants::unique_violation_as;
use crate::{
    error::{AppError, AppResult},
    rules::programs::{ProgramSet, QueueRules, RebateRules, ValueAddedRules, WithdrawalRules},
};

/// The programs in force, with their version (0 and the defaults before any configuration).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Versioned {
    pub version: i32,
    pub set: ProgramSet,
}

/// A change: each section given replaces that section; those left out stay as they are.
#[derive(Clone, Debug, Default)]
pub struct ProgramsPatch {
    pub queue: Option<QueueRules>,
    pub rebate: Option<RebateRules>,
    pub value_added: Option<ValueAddedRules>,
    pub withdrawal: Option<WithdrawalRules>,
    pub auto_complete_days: Option<i32>,
    pub max_payout_ratio: Option<Decimal>,
}

pub async fn current(db: &impl ConnectionTrait, merchant_id: i64) -> AppResult<Versioned> {
    let latest = program_version::Entity::find()
        .filter(program_version::Column::MerchantId.eq(merchant_id))
        .order_by_desc(program_version::Column::Version)
        .one(db)
        .await?;
    match latest {
        None => Ok(Versioned {
            version: 0,
            set: ProgramSet::default(),
        }),
        Some(row) => Ok(Versioned {
            version: row.version,
            set: decode(&row)?,
        }),
    }
}

/// The programs in force at each of `merchant_ids` (version 0 and the defaults for a
/// merchant that never configured them), in two statements however many merchants.
pub async fn current_of(
    db: &impl ConnectionTrait,
    merchant_ids: &[i64],
) -> AppResult<HashMap<i64, Versioned>> {
    let latest: Vec<(i64, i32)> = program_version::Entity::find()
        .select_only()
        .column(program_version::Column::MerchantId)
        .column_as(program_version::Column::Version.max(), "version")
        .filter(program_version::Column::MerchantId.is_in(merchant_ids.iter().copied()))
        .group_by(program_version::Column::MerchantId)
        .into_tuple()
        .all(db)
        .await?;
    let mut current: HashMap<i64, Versioned> = merchant_ids
        .iter()
        .map(|id| {
            let none = Versioned {
                version: 0,
                set: ProgramSet::default(),
            };
            (*id, none)
        })
        .collect();
    if latest.is_empty() {
        return Ok(current);
    }
    let mut wanted = Condition::any();
    for (merchant_id, version) in &latest {
        wanted = wanted.add(
            Condition::all()
                .add(program_version::Column::MerchantId.eq(*merchant_id))
                .add(program_version::Column::Version.eq(*version)),
        );
    }
    for row in program_version::Entity::find()
        .filter(wanted)
        .all(db)
        .await?
    {
        let versioned = Versioned {
            version: row.version,
            set: decode(&row)?,
        };
        current.insert(row.merchant_id, versioned);
    }
    Ok(current)
}

/// A version as it was (`None` if the merchant never had it).
pub async fn version(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    version: i32,
) -> AppResult<Option<Versioned>> {
    let row = program_version::Entity::find()
        .filter(program_version::Column::MerchantId.eq(merchant_id))
        .filter(program_version::Column::Version.eq(version))
        .one(db)
        .await?;
    row.map(|r| {
        Ok(Versioned {
            version: r.version,
            set: decode(&r)?,
        })
    })
    .transpose()
}

fn decode(row: &program_version::Model) -> AppResult<ProgramSet> {
    serde_json::from_str(&row.config).map_err(|e| {
        AppError::Internal(anyhow::anyhow!(
            "program version {} is unreadable: {e}",
            row.id
        ))
    })
}

pub async fn configure(
    db: &impl ConnectionTrait,
    merchant_id: i64,
    staff_id: Option<i64>,
    patch: ProgramsPatch,
    now: DateTime<Utc>,
) -> AppResult<Versioned> {
    let previous = current(db, merchant_id).await?;
    let mut set = previous.set;
    if let Some(queue) = patch.queue {
        set.queue = Some(queue);
    }
    if let Some(rebate) = patch.rebate {
        set.rebate = Some(rebate);
    }
    if let Some(value_added) = patch.value_added {
        set.value_added = Some(value_added);
    }
    if let Some(withdrawal) = patch.withdrawal {
        set.withdrawal = Some(withdrawal);
    }
    if let Some(days) = patch.auto_complete_days {
        set.auto_complete_days = Some(days);
    }
    if let Some(ratio) = patch.max_payout_ratio {
        set.max_payout_ratio = ratio;
    }
    set.validate().map_err(AppError::InvalidInput)?;
    let version = previous.version + 1;
    let config = serde_json::to_string(&set).map_err(|e| AppError::Internal(e.into()))?;
    program_version::Entity::insert(program_version::ActiveModel {
        merchant_id: Set(merchant_id),
        version: Set(version),
        config: Set(config),
        created_by: Set(staff_id),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await
    .map_err(|e| {
        unique_violation_as(e, || {
            AppError::conflict(
                "the programs were changed at the same moment; load them and try again",
            )
        })
    })?;
    Ok(Versioned { version, set })
}
