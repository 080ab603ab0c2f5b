use sea_orm::entity::prelude::*;

/// A shopper's request to take cash out; `status` is `PENDING`, `APPROVED` (paid by hand),
/// `REJECTED`, or, paid by WeChat Pay merchant transfer, `TRANSFERRING`, `PAID`, `FAILED`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "withdrawals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub user_id: i64,
    pub amount: i64,
    pub fee: i64,
    pub status: String,
    pub note: Option<String>,
    pub reviewed_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub reviewed_at: Option<DateTimeUtc>,
    /// The merchant's transfer number at WeChat Pay (one per withdrawal).
    pub out_bill_no: Option<String>,
    /// WeChat's transfer number, once it accepted the transfer.
    pub transfer_bill_no: Option<String>,
    /// What `wx.requestMerchantTransfer` takes while the shopper must confirm.
    pub package_info: Option<String>,
    pub fail_reason: Option<String>,
    /// When the transfer ended (PAID or FAILED).
    pub settled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
