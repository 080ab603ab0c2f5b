use async_graphql::{Context, Object, Result};

use super::types::{
    NotificationQuota, NotificationTemplate, NotificationTemplateInput, SubscribeGrantInput,
};
use crate::{
    graphql::context::ContextExt,
    services::notifications::{self, TemplateConfig, TemplateField},
};

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// Platform administrator: the template each event is sent with (events left out keep
    /// theirs). Field values may use only the event's variables.
    async fn configure_notifications(
        &self,
        ctx: &Context<'_>,
        input: Vec<NotificationTemplateInput>,
    ) -> Result<Vec<NotificationTemplate>> {
        ctx.principal().require_admin()?;
        let templates = input
            .into_iter()
            .map(|t| TemplateConfig {
                event: t.event,
                template_id: t.template_id,
                page: t.page,
                fields: t
                    .fields
                    .into_iter()
                    .map(|f| TemplateField {
                        key: f.key,
                        value: f.value,
                    })
                    .collect(),
            })
            .collect();
        let stored = notifications::configure(&ctx.app().db, templates, ctx.now()).await?;
        Ok(stored.iter().filter_map(NotificationTemplate::of).collect())
    }

    /// Shopper: what she answered in `wx.requestSubscribeMessage`; each accepted template
    /// allows one more message. Her quota afterwards.
    async fn record_subscribe_grants(
        &self,
        ctx: &Context<'_>,
        results: Vec<SubscribeGrantInput>,
    ) -> Result<Vec<NotificationQuota>> {
        let user_id = ctx.principal().require_shopper()?;
        let db = &ctx.app().db;
        notifications::record_grants(
            db,
            user_id,
            results
                .into_iter()
                .map(|r| (r.template_id, r.accepted))
                .collect(),
        )
        .await?;
        Ok(notifications::quota(db, user_id)
            .await?
            .into_iter()
            .map(|(event, template_id, remaining)| NotificationQuota {
                event,
                template_id,
                remaining,
            })
            .collect())
    }
}
