use async_graphql::{
    connection::{Connection, Edge},
    Context, Object, Result, ID,
};

use super::types::Membership;
use crate::{
    auth::StaffRole,
    error::AppError,
    graphql::context::{ContextExt, Guard},
    services::{members, parse_id},
};

pub const DEFAULT_PAGE: i32 = 20;
pub const MAX_PAGE: i32 = 100;

/// Reads Relay's `first` (default 20, at most 100) and an `after` cursor holding a row id.
pub fn page_args(
    first: Option<i32>,
    after: Option<String>,
) -> Result<(u64, Option<i64>), AppError> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(AppError::invalid(format!(
            "first must be between 1 and {MAX_PAGE}"
        )));
    }
    let after = match after {
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .map_err(|_| AppError::invalid("the cursor is not one this API gave out"))?,
        ),
        None => None,
    };
    Ok((first as u64, after))
}

#[derive(Default)]
pub struct MembershipQuery;

#[Object]
impl MembershipQuery {
    /// The logged-in shopper's membership of a merchant; `null` if not a member.
    async fn membership(&self, ctx: &Context<'_>, merchant_id: ID) -> Result<Option<Membership>> {
        let user_id = ctx.principal().require_shopper()?;
        let merchant_id = parse_id(&merchant_id, "merchant")?;
        let found = members::find_membership(&ctx.app().db, merchant_id, user_id).await?;
        Ok(found.map(Membership::from))
    }

    /// Staff: the merchant's members, newest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Membership>> {
        members_page(ctx, merchant_id, None, first, after).await
    }

    /// Staff: the merchant's members whose member code starts with `query` or whose
    /// nickname contains it (any case), newest first.
    async fn search_members(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        query: String,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Membership>> {
        members_page(ctx, merchant_id, Some(query), first, after).await
    }
}

async fn members_page(
    ctx: &Context<'_>,
    merchant_id: ID,
    search: Option<String>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, Membership>> {
    let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Cashier)?;
    let (first, after) = page_args(first, after)?;
    let mut rows = members::members_page(
        &ctx.app().db,
        merchant_id,
        search.as_deref(),
        after,
        first + 1,
    )
    .await?;
    let has_next = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let mut connection = Connection::new(after.is_some(), has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(row.id.to_string(), Membership::from(row))),
    );
    Ok(connection)
}
