use async_graphql::{Context, Object, Result};

use super::types::{AuthPayload, User};
use crate::{
    auth::Principal,
    graphql::context::ContextExt,
    services::accounts::{self, StaffAccount},
};

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Logs a shopper in with the code of the mini-program's `wx.login`.
    async fn login_with_wechat(&self, ctx: &Context<'_>, code: String) -> Result<AuthPayload> {
        let app = ctx.app();
        let identity = app.wechat.code_to_session(&code).await?;
        let user = accounts::shopper_for(&app.db, &identity, ctx.now()).await?;
        let (token, expires_at) =
            app.tokens
                .issue(Principal::Shopper { user_id: user.id }, 0, ctx.now())?;
        Ok(AuthPayload {
            token,
            expires_at,
            user: Some(user),
            staff: None,
        })
    }

    /// Logs in a merchant's staff member or the platform administrator.
    async fn staff_login(
        &self,
        ctx: &Context<'_>,
        username: String,
        password: String,
    ) -> Result<AuthPayload> {
        let app = ctx.app();
        let account = accounts::staff_login(
            &app.db,
            &app.logins,
            ctx.client_address(),
            &username,
            &password,
        )
        .await?;
        let (token, expires_at) = app.tokens.issue(
            account.principal()?,
            account.credentials_version(),
            ctx.now(),
        )?;
        let staff = match account {
            StaffAccount::Staff(staff) => Some(staff),
            StaffAccount::Admin(_) => None,
        };
        Ok(AuthPayload {
            token,
            expires_at,
            user: None,
            staff,
        })
    }

    /// Sets the logged-in shopper's display name (at most 32 characters).
    async fn set_nickname(&self, ctx: &Context<'_>, nickname: String) -> Result<User> {
        let user_id = ctx.principal().require_shopper()?;
        Ok(User(
            accounts::set_nickname(&ctx.app().db, user_id, &nickname).await?,
        ))
    }
}
