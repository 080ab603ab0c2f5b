use sea_orm::entity::prelude::*;

/// A scannable code: a store's own code (`referrer_id` is null) or a member's personal
/// referral code (store and referrer bound by scanning it). `scene` is what the printed
/// mini-program code carries; it is signed, so a forged scene never reaches this table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referral_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub store_id: i64,
    pub referrer_id: Option<i64>,
    #[sea_orm(unique)]
    pub scene: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
