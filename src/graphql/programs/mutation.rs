use async_graphql::{Context, Object, Result, ID};

use super::types::{Programs, ProgramsInput};
use crate::{
    auth::StaffRole,
    graphql::context::{ContextExt, Guard},
    services::programs,
};

#[derive(Default)]
pub struct ProgramsMutation;

#[Object]
impl ProgramsMutation {
    /// Owner or manager: stores a new version of the programs (earlier versions stay as
    /// they were; each completion records the version it used).
    async fn configure_programs(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
        input: ProgramsInput,
    ) -> Result<Programs> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Manager)?;
        let staff_id = match ctx.principal() {
            crate::auth::Principal::Staff { staff_id, .. } => staff_id,
            _ => None,
        };
        let versioned = programs::configure(
            &ctx.app().db,
            merchant_id,
            staff_id,
            input.into(),
            ctx.now(),
        )
        .await?;
        Ok(versioned.into())
    }
}
