use async_graphql::{Context, Object, Result};

use super::types::NotificationTemplate;
use crate::{graphql::context::ContextExt, services::notifications};

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// The subscribe-message templates (any logged-in caller: the mini-program passes their
    /// ids to `wx.requestSubscribeMessage`).
    async fn notification_templates(&self, ctx: &Context<'_>) -> Result<Vec<NotificationTemplate>> {
        ctx.principal().require_authenticated()?;
        let templates = notifications::templates_all(&ctx.app().db).await?;
        Ok(templates
            .iter()
            .filter_map(NotificationTemplate::of)
            .collect())
    }
}
