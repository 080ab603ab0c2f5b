use sea_orm::entity::prelude::*;

/// A merchant's key for a system (a POS, a mall, a script). The secret is shown once; only
/// its SHA-256 is kept. `role` is the staff role the key acts with.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub name: String,
    pub role: String,
    /// Lower-case hex SHA-256 of the secret.
    pub secret_hash: String,
    /// The staff member who created it.
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
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
