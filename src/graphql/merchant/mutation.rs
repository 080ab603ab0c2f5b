use async_graphql::{Context, InputObject, Object, Result, ID};

use super::types::{Merchant, Store};
use crate::{
    auth::StaffRole,
    graphql::{
        account::types::Staff,
        context::{ContextExt, Guard},
    },
    services::merchants,
};

#[derive(InputObject)]
pub struct CreateMerchantInput {
    pub name: String,
    pub owner_username: String,
    pub owner_password: String,
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
            &input.owner_username,
            &input.owner_password,
            ctx.now(),
        )
        .await?;
        Ok(Merchant(merchant))
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
}
