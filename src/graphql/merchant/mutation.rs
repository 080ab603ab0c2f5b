use async_graphql::{Context, InputObject, Object, Result, ID};

use super::types::{Merchant, Store};
use crate::{
    auth::{Principal, StaffRole},
    graphql::{
        account::types::{ApiKey, ApiKeyWithSecret, Staff},
        context::{ContextExt, Guard},
    },
    services::{accounts, merchants, parse_id},
};

#[derive(InputObject)]
pub struct CreateMerchantInput {
    pub name: String,
    pub owner_username: String,
    pub owner_password: String,
    /// IANA time zone its days start in (default `Asia/Shanghai`).
    pub time_zone: Option<String>,
}

/// What changes of a merchant; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateMerchantInput {
    pub name: Option<String>,
    /// IANA time zone (`Asia/Shanghai`): dashboard days, exports and messages follow it.
    pub time_zone: Option<String>,
}

/// What changes of a store; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateStoreInput {
    pub name: Option<String>,
    /// Whether WeChat Pay orders here complete at once.
    pub complete_on_payment: Option<bool>,
}

/// What an owner changes of a staff account; omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateStaffInput {
    pub role: Option<StaffRole>,
    /// `true` revokes every token of the account and refuses its logins.
    pub disabled: Option<bool>,
    /// A new password (at least 8 characters); revokes every token issued before.
    pub password: Option<String>,
}

#[derive(Default)]
pub struct MerchantMutation;

#[Object]
impl MerchantMutation {
    /// Platform administrator: creates a merchant and its owner's account.
    async fn create_merchant(
        &self,
        ctx: &Context<'_>,
        input: CreateMerchantInput,
    ) -> Result<Merchant> {
        ctx.principal().require_admin()?;
        let (merchant, _owner) = merchants::create_merchant(
            &ctx.app().db,
            &input.name,
            input.time_zone.as_deref(),
            &input.owner_username,
            &input.owner_password,
            ctx.now(),
        )
        .await?;
        Ok(Merchant(merchant))
    }

    /// Owner: renames the merchant or sets its time zone.
    async fn update_merchant(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        input: UpdateMerchantInput,
    ) -> Result<Merchant> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let updated = merchants::update_merchant(
            &ctx.app().db,
            merchant_id,
            input.name.as_deref(),
            input.time_zone.as_deref(),
        )
        .await?;
        Ok(Merchant(updated))
    }

    /// Owner or manager: opens a store, with its own code.
    async fn create_store(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        name: String,
    ) -> Result<Store> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Manager)?;
        let app = ctx.app();
        let store =
            merchants::create_store(&app.db, &app.scenes, merchant_id, &name, ctx.now()).await?;
        Ok(Store(store))
    }

    /// Owner or manager: renames a store or changes how its WeChat Pay orders complete.
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        store_id: ID,
        input: UpdateStoreInput,
    ) -> Result<Store> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Manager)?;
        let store_id = parse_id(&store_id, "store")?;
        let updated = merchants::update_store(
            &ctx.app().db,
            merchant_id,
            store_id,
            input.name.as_deref(),
            input.complete_on_payment,
        )
        .await?;
        Ok(Store(updated))
    }

    /// Owner: adds a staff account.
    async fn create_staff(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        username: String,
        password: String,
        role: StaffRole,
    ) -> Result<Staff> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let staff = merchants::create_staff(
            &ctx.app().db,
            merchant_id,
            &username,
            &password,
            role,
            ctx.now(),
        )
        .await?;
        Ok(Staff(staff))
    }

    /// Owner: changes a staff member's role, disables or enables the account, or sets a new
    /// password. Disabling or a new password logs the account out everywhere.
    async fn update_staff(
        &self,
        ctx: &Context<'_>,
        staff_id: ID,
        input: UpdateStaffInput,
    ) -> Result<Staff> {
        let (by, merchant_id) = ctx.principal().require_own_staff(StaffRole::Owner)?;
        let staff_id = parse_id(&staff_id, "staff")?;
        let change = accounts::StaffChange {
            role: input.role,
            disabled: input.disabled,
            password: input.password,
        };
        let app = ctx.app();
        let updated = accounts::update_staff(&app.db, merchant_id, staff_id, by, change).await;
        // Checked against the account as it is now on this instance's next request (and
        // within `FENHONG_STAFF_CACHE_MS` on every other instance).
        app.tokens.staff.forget(staff_id);
        Ok(Staff(updated?))
    }

    /// Owner: a key for a system to call the API as staff with `role`. The secret is in the
    /// answer only.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        name: String,
        role: StaffRole,
    ) -> Result<ApiKeyWithSecret> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Owner)?;
        let by = match ctx.principal() {
            Principal::Staff { staff_id, .. } => staff_id,
            _ => None,
        };
        let (created, secret) =
            accounts::create_api_key(&ctx.app().db, merchant_id, &name, role, by, ctx.now())
                .await?;
        Ok(ApiKeyWithSecret {
            api_key: ApiKey(created),
            secret,
        })
    }

    /// Owner: revokes a key; requests with it are refused from now on.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        let (_, merchant_id) = ctx.principal().require_own_staff(StaffRole::Owner)?;
        let id = parse_id(&id, "API key")?;
        let db = &ctx.app().db;
        let found = accounts::find_api_key(db, merchant_id, id).await?;
        Ok(ApiKey(
            accounts::revoke_api_key(db, found, ctx.now()).await?,
        ))
    }
}
