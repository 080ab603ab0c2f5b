use async_graphql::{InputObject, SimpleObject};
use entity::notification_template;

use crate::services::notifications::{self, NotificationEvent};

/// One field of a template: its key in WeChat (`thing1`, `amount2`, `time3`, …) and its
/// value over the event's variables, e.g. `{merchant}` or `第{position}位`.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "TemplateFieldInput")]
pub struct TemplateField {
    pub key: String,
    pub value: String,
}

#[derive(InputObject)]
pub struct NotificationTemplateInput {
    pub event: NotificationEvent,
    /// The template's id in the mini-program's subscribe-message settings.
    pub template_id: String,
    /// The mini-program page the message opens, e.g. `pages/queue/index`.
    pub page: String,
    pub fields: Vec<TemplateField>,
}

/// The template the platform sends for an event.
#[derive(SimpleObject)]
pub struct NotificationTemplate {
    pub event: NotificationEvent,
    pub template_id: String,
    pub page: String,
    pub fields: Vec<TemplateField>,
}

impl NotificationTemplate {
    pub fn of(model: &notification_template::Model) -> Option<Self> {
        Some(Self {
            event: NotificationEvent::parse(&model.event)?,
            template_id: model.template_id.clone(),
            page: model.page.clone(),
            fields: notifications::fields_of(model)
                .into_iter()
                .map(|f| TemplateField {
                    key: f.key,
                    value: f.value,
                })
                .collect(),
        })
    }
}

#[derive(InputObject)]
pub struct SubscribeGrantInput {
    pub template_id: String,
    /// Whether the shopper accepted it in `wx.requestSubscribeMessage`.
    pub accepted: bool,
}

/// How many more messages of an event's template a shopper may be sent.
#[derive(SimpleObject)]
pub struct NotificationQuota {
    pub event: NotificationEvent,
    pub template_id: String,
    pub remaining: i32,
}
