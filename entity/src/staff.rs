use sea_orm::entity::prelude::*;

/// A merchant's staff account. `role` is one of `OWNER`, `MANAGER`, `CASHIER`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    #[sea_orm(unique)]
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: DateTimeUtc,
    /// A disabled account cannot log in, and its tokens are refused.
    pub disabled: bool,
    /// Raised whenever the password changes or the account is disabled: a token carries the
    /// version it was issued at and is refused once it is older.
    pub credentials_version: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::merchant::Entity",
        from = "Column::MerchantId",
        to = "super::merchant::Column::Id"
    )]
    Merchant,
}

impl ActiveModelBehavior for ActiveModel {}
