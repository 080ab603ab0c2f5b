use async_graphql::{Context, Object, Result};

use super::types::Membership;
use crate::{graphql::context::ContextExt, services::members};

#[derive(Default)]
pub struct MembershipMutation;

#[Object]
impl MembershipMutation {
    /// A shopper scanned a code: the first scan of a merchant's code joins it (binding the
    /// store and, for a member's code, the referrer); later scans change nothing.
    async fn join_by_scene(&self, ctx: &Context<'_>, scene: String) -> Result<Membership> {
        let user_id = ctx.principal().require_shopper()?;
        let app = ctx.app();
        let joined =
            members::join_by_scene(&app.db, &app.scenes, user_id, &scene, ctx.now()).await?;
        Ok(Membership {
            model: joined.membership,
            just_joined: joined.newly_joined,
        })
    }
}
