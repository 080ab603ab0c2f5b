use async_graphql::{Context, Object, Result};
use entity::user;
use sea_orm::EntityTrait;

use super::types::User;
use crate::{error::AppError, graphql::context::ContextExt};

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The logged-in shopper.
    async fn me(&self, ctx: &Context<'_>) -> Result<User> {
        let user_id = ctx.principal().require_shopper()?;
        let found = user::Entity::find_by_id(user_id)
            .one(&ctx.app().db)
            .await
            .map_err(AppError::from)?
            .ok_or(AppError::NotFound("user"))?;
        Ok(User(found))
    }
}
