//! CSV exports of a merchant's orders and ledger entries over a date range, streamed a page
//! at a time (nothing holds the whole range in memory). Staff (manager or owner) only.

use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use entity::{ledger_account, ledger_posting, order};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use crate::{
    auth::StaffRole,
    error::AppError,
    rules::money::Unit,
    services::{accounts, parse_id},
    Fenhong,
};

const PAGE: u64 = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    merchant_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn refuse(err: AppError) -> Response {
    let status = match err {
        AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        AppError::Forbidden(_) => StatusCode::FORBIDDEN,
        AppError::NotFound(_) => StatusCode::NOT_FOUND,
        AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, format!("{}: {err}\n", err.code())).into_response()
}

async fn authorize(app: &Fenhong, headers: &HeaderMap, range: &Range) -> Result<i64, AppError> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (principal, _) = accounts::authenticate(
        &app.state.db,
        &app.state.tokens,
        bearer,
        app.state.clock.now(),
    )
    .await?;
    principal.require_authenticated()?;
    let merchant_id = parse_id(&range.merchant_id, "merchant")?;
    principal.require_staff(merchant_id, StaffRole::Manager)?;
    if range.from >= range.to {
        return Err(AppError::invalid("from must be before to"));
    }
    Ok(merchant_id)
}

fn csv_response(name: &str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A CSV field of free text: quoted when it holds a comma, quote or line break, and, as OWASP
/// recommends against CSV injection, prefixed with `'` when it begins with a character a
/// spreadsheet would read as the start of a formula (`= + - @`, tab, carriage return).
fn field(value: &str) -> String {
    let neutralised;
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        neutralised = format!("'{value}");
        neutralised.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub async fn orders_csv(
    State(app): State<Fenhong>,
    headers: HeaderMap,
    Query(range): Query<Range>,
) -> Response {
    let merchant_id = match authorize(&app, &headers, &range).await {
        Ok(id) => id,
        Err(err) => return refuse(err),
    };
    let db = app.state.db.clone();
    let zone = match crate::services::merchants::find_merchant(&db, merchant_id).await {
        Ok(merchant) => crate::services::merchants::zone_of(&merchant),
        Err(err) => return refuse(err),
    };
    let stream = async_stream::stream! {
        yield Ok::<_, std::io::Error>("id,created_at,completed_at,status,store_id,user_id,amount,cash_paid,points_used,idempotency_key\n".to_owned());
        let mut after = 0i64;
        loop {
            let rows = match orders_page(&db, merchant_id, &range, after).await {
                Ok(rows) => rows,
                Err(err) => { tracing::error!(error = %err, "order export failed"); return; }
            };
            let Some(last) = rows.last() else { return };
            after = last.id;
            let mut chunk = String::new();
            for o in &rows {
                chunk.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    o.id,
                    o.created_at.with_timezone(&zone).to_rfc3339(),
                    o.completed_at.map(|t| t.with_timezone(&zone).to_rfc3339()).unwrap_or_default(),
                    o.status,
                    o.store_id,
                    o.user_id,
                    Unit::Cny.from_minor(o.amount),
                    Unit::Cny.from_minor(o.cash_paid),
                    o.points_used,
                    field(&o.idempotency_key),
                ));
            }
            yield Ok(chunk);
        }
    };
    csv_response("orders.csv", Body::from_stream(stream))
}

async fn orders_page(
    db: &DatabaseConnection,
    merchant_id: i64,
    range: &Range,
    after: i64,
) -> Result<Vec<order::Model>, sea_orm::DbErr> {
    order::Entity::find()
        .filter(order::Column::MerchantId.eq(merchant_id))
        .filter(order::Column::CreatedAt.gte(range.from))
        .filter(order::Column::CreatedAt.lt(range.to))
        .filter(order::Column::Id.gt(after))
        .order_by_asc(order::Column::Id)
        .limit(PAGE)
        .all(db)
        .await
}

pub async fn ledger_csv(
    State(app): State<Fenhong>,
    headers: HeaderMap,
    Query(range): Query<Range>,
) -> Response {
    let merchant_id = match authorize(&app, &headers, &range).await {
        Ok(id) => id,
        Err(err) => return refuse(err),
    };
    let db = app.state.db.clone();
    let zone = match crate::services::merchants::find_merchant(&db, merchant_id).await {
        Ok(merchant) => crate::services::merchants::zone_of(&merchant),
        Err(err) => return refuse(err),
    };
    let stream = async_stream::stream! {
        yield Ok::<_, std::io::Error>("id,at,transaction_id,owner,owner_id,account,unit,amount,kind,order_id\n".to_owned());
        let mut after = 0i64;
        loop {
            let rows = match ledger_page(&db, merchant_id, &range, after).await {
                Ok(rows) => rows,
                Err(err) => { tracing::error!(error = %err, "ledger export failed"); return; }
            };
            let Some(last) = rows.last() else { return };
            after = last.0.id;
            let mut chunk = String::new();
            for (p, a) in &rows {
                let unit = Unit::parse(&p.unit).unwrap_or(Unit::Cny);
                let (owner, owner_id, account) = a
                    .as_ref()
                    .map(|a| (a.owner_kind.clone(), a.owner_id.to_string(), a.kind.clone()))
                    .unwrap_or_default();
                chunk.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    p.id,
                    p.created_at.with_timezone(&zone).to_rfc3339(),
                    p.transaction_id,
                    owner,
                    owner_id,
                    account,
                    unit.as_str(),
                    unit.from_minor(p.amount),
                    p.kind,
                    p.order_id.map(|id| id.to_string()).unwrap_or_default(),
                ));
            }
            yield Ok(chunk);
        }
    };
    csv_response("ledger.csv", Body::from_stream(stream))
}

async fn ledger_page(
    db: &DatabaseConnection,
    merchant_id: i64,
    range: &Range,
    after: i64,
) -> Result<Vec<(ledger_posting::Model, Option<ledger_account::Model>)>, sea_orm::DbErr> {
    let postings = ledger_posting::Entity::find()
        .filter(ledger_posting::Column::MerchantId.eq(merchant_id))
        .filter(ledger_posting::Column::CreatedAt.gte(range.from))
        .filter(ledger_posting::Column::CreatedAt.lt(range.to))
        .filter(ledger_posting::Column::Id.gt(after))
        .order_by_asc(ledger_posting::Column::Id)
        .limit(PAGE)
        .all(db)
        .await?;
    let accounts = ledger_account::Entity::find()
        .filter(ledger_account::Column::Id.is_in(postings.iter().map(|p| p.account_id)))
        .all(db)
        .await?;
    Ok(postings
        .into_iter()
        .map(|p| {
            let account = accounts.iter().find(|a| a.id == p.account_id).cloned();
            (p, account)
        })
        .collect())
}
