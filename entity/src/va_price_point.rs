use sea_orm::entity::prelude::*;

/// The value-added program's state after a mint, sale or injection. `price` and `supply` in
/// 1/10000, `pool` in fen.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "va_price_points")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub at: DateTimeUtc,
    pub price: i64,
    pub pool: i64,
    pub supply: i64,
    pub cause: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
