//! What a resolver knows about its request.

use async_graphql::Context;
use chrono::{DateTime, Utc};

use crate::{auth::Principal, AppState};

/// The address a request came from, when known (see `FENHONG_CLIENT_IP_HEADER`).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

pub trait ContextExt {
    fn app(&self) -> &AppState;
    fn principal(&self) -> Principal;
    fn now(&self) -> DateTime<Utc>;
    fn client_address(&self) -> Option<std::net::IpAddr>;
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn principal(&self) -> Principal {
        self.data_opt::<Principal>()
            .copied()
            .unwrap_or(Principal::Anonymous)
    }

    fn now(&self) -> DateTime<Utc> {
        self.app().clock.now()
    }

    fn client_address(&self) -> Option<std::net::IpAddr> {
        self.data_opt::<ClientAddress>().and_then(|a| a.0)
    }
}

/// Authorization helpers that read an id argument: a missing login is reported before a
/// malformed id, so an anonymous caller learns nothing about ids.
pub trait Guard {
    /// The merchant id, if the caller is its staff with at least `needed`.
    fn staff_of(
        &self,
        merchant_id: &async_graphql::ID,
        needed: crate::auth::StaffRole,
    ) -> crate::error::AppResult<i64>;
}

impl Guard for Context<'_> {
    fn staff_of(
        &self,
        merchant_id: &async_graphql::ID,
        needed: crate::auth::StaffRole,
    ) -> crate::error::AppResult<i64> {
        let principal = self.principal();
        principal.require_authenticated()?;
        let merchant_id = crate::services::parse_id(merchant_id, "merchant")?;
        principal.require_staff(merchant_id, needed)?;
        Ok(merchant_id)
    }
}
