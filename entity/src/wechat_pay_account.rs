use sea_orm::entity::prelude::*;

/// A merchant's WeChat Pay merchant account (direct mode, API v3). The private key and the
/// API v3 key are sealed with the server's secrets key; the platform public key is public.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_pay_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub merchant_id: i64,
    pub mchid: String,
    pub merchant_serial_no: String,
    pub private_key_sealed: String,
    pub api_v3_key_sealed: String,
    pub platform_public_key_id: String,
    pub platform_public_key_pem: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
