//! Subscribe messages (订阅消息): what reaches a shopper whose mini-program is closed. The
//! planner reads the live outbox (so nothing is lost across restarts) and writes at most one
//! message per (event, user, cause); the sender sends those a shopper granted, one grant
//! each, with the platform's template for the event.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{
    live_outbox, merchant, notification_grant, notification_send, notification_template, point_lot,
    queue_entry, user,
};
use rust_decimal::Decimal;
use sea_orm::{
    sea_query::{Expr, OnConflict},
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{
    error::{AppError, AppResult},
    live::{EventKind, LiveEvent},
    rules::money::Unit,
    wechat_server::SendError,
    AppState,
};

/// What a shopper can be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum NotificationEvent {
    /// Her queue entry entered the free-order slots.
    QueueActive,
    /// Her queue entry is paid back in full.
    QueueCompleted,
    /// A queue share or referral reward reached her cash.
    RewardCredited,
    /// Rebate points expire within 3 days.
    PointsExpiring,
    WithdrawalPaid,
    WithdrawalFailed,
}

impl NotificationEvent {
    pub const ALL: [Self; 6] = [
        Self::QueueActive,
        Self::QueueCompleted,
        Self::RewardCredited,
        Self::PointsExpiring,
        Self::WithdrawalPaid,
        Self::WithdrawalFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::QueueActive => "QUEUE_ACTIVE",
            Self::QueueCompleted => "QUEUE_COMPLETED",
            Self::RewardCredited => "REWARD_CREDITED",
            Self::PointsExpiring => "POINTS_EXPIRING",
            Self::WithdrawalPaid => "WITHDRAWAL_PAID",
            Self::WithdrawalFailed => "WITHDRAWAL_FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The variables its templates may use.
    pub fn variables(self) -> &'static [&'static str] {
        match self {
            Self::QueueActive => &[
                "merchant", "position", "received", "target", "amount", "orderId",
            ],
            Self::QueueCompleted => &["merchant", "received", "target", "amount", "orderId"],
            Self::RewardCredited => &["merchant", "amount", "orderId"],
            Self::PointsExpiring => &["merchant", "points", "expiresAt"],
            Self::WithdrawalPaid | Self::WithdrawalFailed => &["merchant", "amount"],
        }
    }
}

/// Days before a lot expires that its shopper is told.
pub const EXPIRY_NOTICE_DAYS: i64 = 3;

pub const PENDING: &str = "PENDING";
const SENDING: &str = "SENDING";
pub const SENT: &str = "SENT";
pub const SKIPPED: &str = "SKIPPED";
pub const REFUSED: &str = "REFUSED";
pub const FAILED: &str = "FAILED";
/// Sends after a system error before giving up.
const MAX_ATTEMPTS: i32 = 6;

/// One field of a template: its key (`thing1`, `amount2`, …) and its value over variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateField {
    pub key: String,
    pub value: String,
}

/// A template as the platform configures it.
#[derive(Clone, Debug)]
pub struct TemplateConfig {
    pub event: NotificationEvent,
    pub template_id: String,
    pub page: String,
    pub fields: Vec<TemplateField>,
}

/// The variables of `{…}` in a value.
fn placeholders(value: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        found.push(&rest[start + 1..start + len]);
        rest = &rest[start + len + 1..];
    }
    found
}

/// The type of a field key: its letters before the digits (`thing1` → `thing`).
fn field_type(key: &str) -> &str {
    key.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// The most characters WeChat takes for a type (`None`: its format bounds it).
fn type_limit(kind: &str) -> Option<usize> {
    match kind {
        "thing" => Some(20),
        "phrase" | "symbol" => Some(5),
        "name" => Some(10),
        "car_number" => Some(8),
        "phone_number" => Some(17),
        "number" | "letter" | "character_string" => Some(32),
        _ => None,
    }
}

/// Platform: sets the template of each event given (the others stay).
pub async fn configure(
    db: &impl ConnectionTrait,
    templates: Vec<TemplateConfig>,
    now: DateTime<Utc>,
) -> AppResult<Vec<notification_template::Model>> {
    for t in &templates {
        let id = t.template_id.trim();
        if id.is_empty() || id.len() > 64 {
            return Err(AppError::invalid(
                "templateId is the id WeChat gave the template",
            ));
        }
        if t.page.len() > 128 || t.page.starts_with('/') {
            return Err(AppError::invalid(
                "page is a mini-program path such as pages/queue/index",
            ));
        }
        if t.fields.is_empty() || t.fields.len() > 10 {
            return Err(AppError::invalid("a template has 1 to 10 fields"));
        }
        for field in &t.fields {
            let kind = field_type(&field.key);
            if kind.is_empty()
                || kind.len() == field.key.len()
                || !kind.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                return Err(AppError::InvalidInput(format!(
                    "{} is not a template field key (such as thing1 or amount2)",
                    field.key
                )));
            }
            for name in placeholders(&field.value) {
                if !t.event.variables().contains(&name) {
                    return Err(AppError::InvalidInput(format!(
                        "{{{name}}} is not a variable of {} (it has {})",
                        t.event.as_str(),
                        t.event.variables().join(", ")
                    )));
                }
            }
        }
    }
    for t in templates {
        let fields = serde_json::to_string(&t.fields).map_err(|e| AppError::Internal(e.into()))?;
        notification_template::Entity::insert(notification_template::ActiveModel {
            event: Set(t.event.as_str().into()),
            template_id: Set(t.template_id.trim().into()),
            page: Set(t.page.clone()),
            fields: Set(fields),
            updated_at: Set(now),
        })
        .on_conflict(
            OnConflict::column(notification_template::Column::Event)
                .update_columns([
                    notification_template::Column::TemplateId,
                    notification_template::Column::Page,
                    notification_template::Column::Fields,
                    notification_template::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    }
    templates_all(db).await
}

pub async fn templates_all(
    db: &impl ConnectionTrait,
) -> AppResult<Vec<notification_template::Model>> {
    Ok(notification_template::Entity::find()
        .order_by_asc(notification_template::Column::Event)
        .all(db)
        .await?)
}

pub fn fields_of(template: &notification_template::Model) -> Vec<TemplateField> {
    serde_json::from_str(&template.fields).unwrap_or_default()
}

/// A shopper's answers to `wx.requestSubscribeMessage`: each accepted template allows one
/// more message. Every template id must be one the platform configured.
pub async fn record_grants(
    db: &DatabaseConnection,
    user_id: i64,
    results: Vec<(String, bool)>,
) -> AppResult<()> {
    let known: HashSet<String> = templates_all(db)
        .await?
        .into_iter()
        .map(|t| t.template_id)
        .collect();
    if let Some((unknown, _)) = results.iter().find(|(id, _)| !known.contains(id)) {
        return Err(AppError::InvalidInput(format!(
            "{unknown} is not a template of this platform"
        )));
    }
    db.transaction::<_, _, AppError>(|tx| {
        Box::pin(async move {
            crate::db::claim_writer(tx).await?;
            for (template_id, accepted) in results.into_iter().filter(|(_, a)| *a) {
                let _ = accepted;
                notification_grant::Entity::insert(notification_grant::ActiveModel {
                    user_id: Set(user_id),
                    template_id: Set(template_id),
                    remaining: Set(1),
                })
                .on_conflict(
                    OnConflict::columns([
                        notification_grant::Column::UserId,
                        notification_grant::Column::TemplateId,
                    ])
                    .value(
                        notification_grant::Column::Remaining,
                        Expr::col((
                            notification_grant::Entity,
                            notification_grant::Column::Remaining,
                        ))
                        .add(1),
                    )
                    .to_owned(),
                )
                .exec_without_returning(tx)
                .await?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(())
}

/// What a shopper may still be sent, per configured event.
pub async fn quota(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> AppResult<Vec<(NotificationEvent, String, i32)>> {
    let grants: HashMap<String, i32> = notification_grant::Entity::find()
        .filter(notification_grant::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.template_id, g.remaining))
        .collect();
    Ok(templates_all(db)
        .await?
        .into_iter()
        .filter_map(|t| {
            let event = NotificationEvent::parse(&t.event)?;
            let remaining = grants.get(&t.template_id).copied().unwrap_or(0);
            Some((event, t.template_id, remaining))
        })
        .collect())
}

fn yuan(fen: i64) -> String {
    format!("¥{}", Unit::Cny.from_minor(fen))
}

/// A time as subscribe messages show it, in the merchant's zone.
fn shown_time(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
}

/// A message the planner wants sent.
struct Planned {
    event: NotificationEvent,
    user_id: i64,
    cause: String,
    merchant_id: i64,
    vars: Map<String, Value>,
}

async fn write(
    tx: &impl ConnectionTrait,
    planned: Vec<Planned>,
    configured: &HashSet<NotificationEvent>,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut written = 0;
    for p in planned
        .into_iter()
        .filter(|p| configured.contains(&p.event))
    {
        let inserted = notification_send::Entity::insert(notification_send::ActiveModel {
            event: Set(p.event.as_str().into()),
            user_id: Set(p.user_id),
            cause: Set(p.cause),
            merchant_id: Set(p.merchant_id),
            vars: Set(Value::Object(p.vars).to_string()),
            status: Set(PENDING.into()),
            attempts: Set(0),
            next_attempt_at: Set(now),
            created_at: Set(now),
            ..Default::default()
        })
        .on_conflict(
            OnConflict::columns([
                notification_send::Column::Event,
                notification_send::Column::UserId,
                notification_send::Column::Cause,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(tx)
        .await?;
        written += inserted as usize;
    }
    Ok(written)
}

async fn configured_events(db: &impl ConnectionTrait) -> AppResult<HashSet<NotificationEvent>> {
    Ok(templates_all(db)
        .await?
        .iter()
        .filter_map(|t| NotificationEvent::parse(&t.event))
        .collect())
}

/// Reads the outbox rows the planner has not read (oldest first) and writes the messages
/// they call for. Each row is claimed by a conditional update in the same transaction, so
/// when several instances plan at once each row is planned once (the second waits for the
/// first and finds it claimed). Returns how many messages it wrote.
pub async fn plan(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    // Most rounds find nothing new: look before taking the writer's lock.
    let waiting = live_outbox::Entity::find()
        .select_only()
        .column(live_outbox::Column::Id)
        .filter(live_outbox::Column::NotifiedAt.is_null())
        .order_by_asc(live_outbox::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?;
    if waiting.is_none() {
        return Ok(0);
    }
    let configured = configured_events(db).await?;
    db.transaction::<_, _, AppError>(|tx| {
        Box::pin(async move {
            crate::db::claim_writer(tx).await?;
            crate::db::scan_waiting_in_order(tx).await?;
            let rows = live_outbox::Entity::find()
                .filter(live_outbox::Column::NotifiedAt.is_null())
                .order_by_asc(live_outbox::Column::Id)
                .limit(200)
                .all(tx)
                .await?;
            let mut written = 0;
            let mut names: HashMap<i64, (String, chrono_tz::Tz)> = HashMap::new();
            if rows.is_empty() {
                return Ok(0);
            }
            // Claimed together; a row another planner claimed first is not returned.
            let claimed: HashSet<i64> = live_outbox::Entity::update_many()
                .col_expr(live_outbox::Column::NotifiedAt, Expr::value(Some(now)))
                .filter(live_outbox::Column::Id.is_in(rows.iter().map(|r| r.id)))
                .filter(live_outbox::Column::NotifiedAt.is_null())
                .exec_with_returning(tx)
                .await?
                .into_iter()
                .map(|row| row.id)
                .collect();
            for row in rows {
                if !claimed.contains(&row.id) || configured.is_empty() {
                    continue;
                }
                let Ok(event) = serde_json::from_str::<LiveEvent>(&row.payload) else {
                    continue;
                };
                let planned = plan_event(tx, &event, &mut names).await?;
                written += write(tx, planned, &configured, now).await?;
            }
            Ok(written)
        })
    })
    .await
    .map_err(AppError::from)
}

async fn merchant_name(
    db: &impl ConnectionTrait,
    names: &mut HashMap<i64, (String, chrono_tz::Tz)>,
    merchant_id: i64,
) -> AppResult<String> {
    Ok(merchant_of(db, names, merchant_id).await?.0)
}

/// A merchant's name and time zone, read once per round.
async fn merchant_of(
    db: &impl ConnectionTrait,
    names: &mut HashMap<i64, (String, chrono_tz::Tz)>,
    merchant_id: i64,
) -> AppResult<(String, chrono_tz::Tz)> {
    if let Some(known) = names.get(&merchant_id) {
        return Ok(known.clone());
    }
    let known = merchant::Entity::find_by_id(merchant_id)
        .one(db)
        .await?
        .map(|m| (m.name.clone(), super::merchants::zone_of(&m)))
        .unwrap_or((String::new(), chrono_tz::Asia::Shanghai));
    names.insert(merchant_id, known.clone());
    Ok(known)
}

/// The messages one live event calls for.
async fn plan_event(
    db: &impl ConnectionTrait,
    event: &LiveEvent,
    names: &mut HashMap<i64, (String, chrono_tz::Tz)>,
) -> AppResult<Vec<Planned>> {
    let mut planned = Vec::new();
    let merchant_id = event.merchant_id;
    match &event.kind {
        EventKind::OrderCompleted { order_id, .. } => {
            let name = merchant_name(db, names, merchant_id).await?;
            if let Some(queue) = &event.queue {
                let completed: Vec<i64> = queue
                    .changed
                    .iter()
                    .filter(|(_, _, done)| *done)
                    .map(|(id, _, _)| *id)
                    .collect();
                let ids: Vec<i64> = queue
                    .active
                    .iter()
                    .map(|(id, _)| *id)
                    .chain(completed.iter().copied())
                    .collect();
                let entries: HashMap<i64, queue_entry::Model> = queue_entry::Entity::find()
                    .filter(queue_entry::Column::Id.is_in(ids))
                    .all(db)
                    .await?
                    .into_iter()
                    .map(|e| (e.id, e))
                    .collect();
                let orders: HashMap<i64, i64> = entity::order::Entity::find()
                    .filter(entity::order::Column::Id.is_in(entries.values().map(|e| e.order_id)))
                    .all(db)
                    .await?
                    .into_iter()
                    .map(|o| (o.id, o.amount))
                    .collect();
                let vars_of = |e: &queue_entry::Model| {
                    let mut vars = Map::new();
                    vars.insert("merchant".into(), json!(name));
                    vars.insert("received".into(), json!(yuan(e.received)));
                    vars.insert("target".into(), json!(yuan(e.target)));
                    vars.insert(
                        "amount".into(),
                        json!(yuan(orders.get(&e.order_id).copied().unwrap_or(e.target))),
                    );
                    vars.insert("orderId".into(), json!(e.order_id.to_string()));
                    vars
                };
                for (index, (entry_id, _)) in queue.active.iter().enumerate() {
                    let Some(entry) = entries.get(entry_id) else {
                        continue;
                    };
                    let mut vars = vars_of(entry);
                    vars.insert("position".into(), json!((index + 1).to_string()));
                    planned.push(Planned {
                        event: NotificationEvent::QueueActive,
                        user_id: entry.user_id,
                        cause: format!("entry:{entry_id}"),
                        merchant_id,
                        vars,
                    });
                }
                for entry_id in completed {
                    let Some(entry) = entries.get(&entry_id) else {
                        continue;
                    };
                    planned.push(Planned {
                        event: NotificationEvent::QueueCompleted,
                        user_id: entry.user_id,
                        cause: format!("entry:{entry_id}"),
                        merchant_id,
                        vars: vars_of(entry),
                    });
                }
            }
            let rewards = super::wallet::rewards_of_orders(db, &[*order_id]).await?;
            let mut credited: HashMap<i64, Decimal> = HashMap::new();
            for reward in rewards.get(order_id).into_iter().flatten() {
                let cash = matches!(
                    reward.kind.as_str(),
                    "QUEUE_SHARE" | "REFERRAL" | "REFERRAL_SECOND_LEVEL"
                );
                if let (true, Some(user_id)) = (cash, reward.beneficiary) {
                    *credited.entry(user_id).or_default() += reward.amount;
                }
            }
            for (user_id, amount) in credited {
                let mut vars = Map::new();
                vars.insert("merchant".into(), json!(name));
                vars.insert("amount".into(), json!(format!("¥{amount}")));
                vars.insert("orderId".into(), json!(order_id.to_string()));
                planned.push(Planned {
                    event: NotificationEvent::RewardCredited,
                    user_id,
                    cause: format!("order:{order_id}"),
                    merchant_id,
                    vars,
                });
            }
        }
        EventKind::WithdrawalChanged {
            withdrawal_id,
            user_id,
            amount,
            status,
        } => {
            let event = match status.as_str() {
                "PAID" => NotificationEvent::WithdrawalPaid,
                "FAILED" => NotificationEvent::WithdrawalFailed,
                _ => return Ok(planned),
            };
            let mut vars = Map::new();
            vars.insert(
                "merchant".into(),
                json!(merchant_name(db, names, merchant_id).await?),
            );
            vars.insert("amount".into(), json!(format!("¥{amount}")));
            planned.push(Planned {
                event,
                user_id: *user_id,
                cause: format!("withdrawal:{withdrawal_id}"),
                merchant_id,
                vars,
            });
        }
        _ => {}
    }
    Ok(planned)
}

/// Writes a `POINTS_EXPIRING` message for every lot with points left that expires within
/// [`EXPIRY_NOTICE_DAYS`] (once per lot). Returns how many.
pub async fn plan_expiring(db: &DatabaseConnection, now: DateTime<Utc>) -> AppResult<usize> {
    let configured = configured_events(db).await?;
    if !configured.contains(&NotificationEvent::PointsExpiring) {
        return Ok(0);
    }
    let lots = point_lot::Entity::find()
        .filter(point_lot::Column::Remaining.gt(0))
        .filter(point_lot::Column::ExpiresAt.gt(now))
        .filter(point_lot::Column::ExpiresAt.lte(now + Duration::days(EXPIRY_NOTICE_DAYS)))
        .order_by_asc(point_lot::Column::Id)
        .limit(1000)
        .all(db)
        .await?;
    let mut names = HashMap::new();
    let mut planned = Vec::new();
    for lot in lots {
        let Some(expires_at) = lot.expires_at else {
            continue;
        };
        let (name, zone) = merchant_of(db, &mut names, lot.merchant_id).await?;
        let mut vars = Map::new();
        vars.insert("merchant".into(), json!(name));
        vars.insert("points".into(), json!(lot.remaining.to_string()));
        vars.insert("expiresAt".into(), json!(shown_time(expires_at, zone)));
        planned.push(Planned {
            event: NotificationEvent::PointsExpiring,
            user_id: lot.user_id,
            cause: format!("lot:{}", lot.id),
            merchant_id: lot.merchant_id,
            vars,
        });
    }
    write(db, planned, &configured, now).await
}

/// The `data` of a message: each field's value with the variables filled in, cut to what
/// WeChat takes for its type.
pub fn render(fields: &[TemplateField], vars: &Map<String, Value>) -> Value {
    let mut data = Map::new();
    for field in fields {
        let mut text = field.value.clone();
        for name in placeholders(&field.value) {
            let value = vars.get(name).and_then(Value::as_str).unwrap_or_default();
            text = text.replace(&format!("{{{name}}}"), value);
        }
        if let Some(limit) = type_limit(field_type(&field.key)) {
            text = text.chars().take(limit).collect();
        }
        data.insert(field.key.clone(), json!({ "value": text }));
    }
    Value::Object(data)
}

/// What one round of sending did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub skipped: usize,
    pub refused: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Sends the messages that are due. Each is claimed first (so two instances never send one
/// twice) and needs a grant of its template; a send uses the grant, `43101` zeroes it, a
/// system error tries again later (10 s, 20 s, 40 s, …), anything else fails it.
pub async fn send_due(state: &AppState, now: DateTime<Utc>) -> AppResult<SendReport> {
    let mut report = SendReport::default();
    let Some(server) = state.wechat_server.as_ref() else {
        return Ok(report);
    };
    let db = &state.db;
    let due = notification_send::Entity::find()
        .filter(notification_send::Column::Status.eq(PENDING))
        .filter(notification_send::Column::NextAttemptAt.lte(now))
        .order_by_asc(notification_send::Column::Id)
        .limit(100)
        .all(db)
        .await?;
    if due.is_empty() {
        return Ok(report);
    }
    let templates: HashMap<String, notification_template::Model> = templates_all(db)
        .await?
        .into_iter()
        .map(|t| (t.event.clone(), t))
        .collect();
    for message in due {
        let claimed = notification_send::Entity::update_many()
            .col_expr(notification_send::Column::Status, Expr::value(SENDING))
            .filter(notification_send::Column::Id.eq(message.id))
            .filter(notification_send::Column::Status.eq(PENDING))
            .exec(db)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let finish = |status: &'static str, error: Option<String>| {
            notification_send::Entity::update_many()
                .col_expr(notification_send::Column::Status, Expr::value(status))
                .col_expr(notification_send::Column::Error, Expr::value(error))
                .col_expr(
                    notification_send::Column::SentAt,
                    Expr::value((status == SENT).then_some(now)),
                )
                .filter(notification_send::Column::Id.eq(message.id))
                .exec(db)
        };
        let Some(template) = templates.get(&message.event) else {
            finish(SKIPPED, Some("no template for the event".into())).await?;
            report.skipped += 1;
            continue;
        };
        let granted = notification_grant::Entity::find()
            .filter(notification_grant::Column::UserId.eq(message.user_id))
            .filter(notification_grant::Column::TemplateId.eq(&template.template_id))
            .filter(notification_grant::Column::Remaining.gt(0))
            .one(db)
            .await?;
        let shopper = user::Entity::find_by_id(message.user_id).one(db).await?;
        let (Some(_), Some(shopper)) = (granted, shopper) else {
            finish(
                SKIPPED,
                Some("the shopper has not granted this template".into()),
            )
            .await?;
            report.skipped += 1;
            continue;
        };
        let vars: Map<String, Value> = serde_json::from_str(&message.vars).unwrap_or_default();
        let body = json!({
            "touser": shopper.openid,
            "template_id": template.template_id,
            "page": template.page,
            "data": render(&fields_of(template), &vars),
            "miniprogram_state": if state.config.is_production() { "formal" } else { "developer" },
            "lang": "zh_CN",
        });
        let grant = notification_grant::Entity::update_many()
            .filter(notification_grant::Column::UserId.eq(message.user_id))
            .filter(notification_grant::Column::TemplateId.eq(&template.template_id));
        match server.send_subscribe(&body).await {
            Ok(()) => {
                grant
                    .col_expr(
                        notification_grant::Column::Remaining,
                        Expr::col(notification_grant::Column::Remaining).sub(1),
                    )
                    .filter(notification_grant::Column::Remaining.gt(0))
                    .exec(db)
                    .await?;
                finish(SENT, None).await?;
                report.sent += 1;
            }
            Err(SendError::Refused) => {
                grant
                    .col_expr(notification_grant::Column::Remaining, Expr::value(0))
                    .exec(db)
                    .await?;
                finish(REFUSED, Some("43101: the user did not accept".into())).await?;
                report.refused += 1;
            }
            Err(SendError::Transient(why)) if message.attempts + 1 < MAX_ATTEMPTS => {
                let wait = Duration::seconds(10 * (1i64 << message.attempts.min(10)));
                notification_send::Entity::update_many()
                    .col_expr(notification_send::Column::Status, Expr::value(PENDING))
                    .col_expr(
                        notification_send::Column::Attempts,
                        Expr::value(message.attempts + 1),
                    )
                    .col_expr(
                        notification_send::Column::NextAttemptAt,
                        Expr::value(now + wait),
                    )
                    .col_expr(notification_send::Column::Error, Expr::value(Some(why)))
                    .filter(notification_send::Column::Id.eq(message.id))
                    .exec(db)
                    .await?;
                report.retried += 1;
            }
            Err(other) => {
                tracing::warn!(error = %other, message = message.id, "a subscribe message failed");
                finish(FAILED, Some(other.to_string())).await?;
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

/// One round: plan from the outbox, then send what is due.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> AppResult<SendReport> {
    plan(&state.db, now).await?;
    send_due(state, now).await
}
