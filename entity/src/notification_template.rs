use sea_orm::entity::prelude::*;

/// The subscribe-message template the platform sends for one event. `fields` is JSON:
/// `[{"key": "thing1", "value": "{merchant}"}, …]`, values over the event's variables.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_templates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub event: String,
    pub template_id: String,
    pub page: String,
    pub fields: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
