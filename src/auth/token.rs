use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Principal, StaffRole};
use crate::{
    error::{AppError, AppResult},
    graphql::documents::Bounded,
};

const ISSUER: &str = "fenhong";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Expired,
    Invalid,
}

/// The claims of a Fenhong token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// `admin:<id>`, `staff:<id>` or `user:<id>`.
    pub sub: String,
    /// The merchant a staff token is scoped to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mid: Option<i64>,
    /// The staff role: `OWNER`, `MANAGER` or `CASHIER`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub iat: i64,
    pub exp: i64,
    /// The account's credentials version when the token was issued (staff and the platform
    /// account): a token older than the account's current version is refused.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ver: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A token whose signature and expiry are good.
#[derive(Clone, Copy, Debug)]
pub struct Verified {
    pub principal: Principal,
    /// See [`Claims::ver`].
    pub version: i64,
    pub expires_at: DateTime<Utc>,
}

/// Signs and checks HS256 tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: chrono::Duration,
    /// Staff accounts as last read, for checking their tokens without a read per request.
    pub staff: std::sync::Arc<StaffCache>,
    /// Tokens whose signature was checked, with what they say: a client sends the same token
    /// with every request, and checking it (decoding, HMAC, parsing the claims) was about a
    /// twentieth of a small request's work. Expiry is still checked on every use.
    verified: std::sync::Arc<Bounded<Box<str>, Verified>>,
}

/// Longer tokens are checked every time (Fenhong's are about 200 bytes).
const MAX_CACHED_TOKEN: usize = 1024;

/// What a staff token is checked against (the account's row), kept for a moment: a change
/// made through this instance is forgotten at once ([`StaffCache::forget`]); one made through
/// another instance applies here within `max_age`.
pub struct StaffCache {
    max_age: std::time::Duration,
    rows: std::sync::Mutex<std::collections::HashMap<i64, (std::time::Instant, StaffRow)>>,
}

/// The parts of a staff account a token is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffRow {
    pub merchant_id: i64,
    pub role: String,
    pub disabled: bool,
    pub credentials_version: i64,
}

/// Past this many accounts the cache starts again.
const STAFF_CACHE_MAX: usize = 10_000;

impl StaffCache {
    /// `max_age` zero: every check reads the account.
    pub fn new(max_age: std::time::Duration) -> Self {
        Self {
            max_age,
            rows: Default::default(),
        }
    }

    pub fn get(&self, staff_id: i64) -> Option<StaffRow> {
        if self.max_age.is_zero() {
            return None;
        }
        let rows = self.rows.lock().ok()?;
        let (at, row) = rows.get(&staff_id)?;
        (at.elapsed() < self.max_age).then(|| row.clone())
    }

    pub fn put(&self, staff_id: i64, row: StaffRow) {
        if self.max_age.is_zero() {
            return;
        }
        if let Ok(mut rows) = self.rows.lock() {
            if rows.len() >= STAFF_CACHE_MAX {
                rows.clear();
            }
            rows.insert(staff_id, (std::time::Instant::now(), row));
        }
    }

    /// The account changed: the next check reads it.
    pub fn forget(&self, staff_id: i64) {
        if let Ok(mut rows) = self.rows.lock() {
            rows.remove(&staff_id);
        }
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: std::time::Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7)),
            staff: std::sync::Arc::new(StaffCache::new(std::time::Duration::ZERO)),
            verified: Default::default(),
        }
    }

    /// Staff tokens checked against accounts read at most `max_age` ago.
    pub fn with_staff_cache(mut self, max_age: std::time::Duration) -> Self {
        self.staff = std::sync::Arc::new(StaffCache::new(max_age));
        self
    }

    /// A token for `who`, at the credentials version `version` of a staff or platform account
    /// (0 for a shopper).
    pub fn issue(
        &self,
        who: Principal,
        version: i64,
        now: DateTime<Utc>,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let expires_at = now + self.ttl;
        let (sub, mid, role) = match who {
            Principal::Anonymous | Principal::Rejected { .. } => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "no token for anonymous"
                )))
            }
            Principal::Admin { admin_id } => (format!("admin:{admin_id}"), None, None),
            Principal::Staff { staff_id: None, .. } => {
                return Err(AppError::Internal(anyhow::anyhow!(
                    "an API key is not exchanged for a token"
                )))
            }
            Principal::Staff {
                staff_id: Some(staff_id),
                merchant_id,
                role,
            } => (
                format!("staff:{staff_id}"),
                Some(merchant_id),
                Some(role.as_str().to_owned()),
            ),
            Principal::Shopper { user_id } => (format!("user:{user_id}"), None, None),
        };
        let claims = Claims {
            iss: ISSUER.into(),
            sub,
            mid,
            role,
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            ver: version,
        };
        self.sign(&claims).map(|token| (token, expires_at))
    }

    pub fn sign(&self, claims: &Claims) -> AppResult<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| AppError::Internal(e.into()))
    }

    /// Checks the signature and expiry (against `now`, the service clock) of a token. Whether
    /// its account still stands is the caller's to check
    /// ([`crate::services::accounts::authenticate`]).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Verified, TokenError> {
        let verified = match self.verified.get(token) {
            Some(verified) => verified,
            None => {
                let verified = self.check_signature(token)?;
                if token.len() <= MAX_CACHED_TOKEN {
                    self.verified.insert(token.into(), verified);
                }
                verified
            }
        };
        if verified.expires_at.timestamp() <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(verified)
    }

    /// What a token says, if its signature, issuer and claims are good (expiry aside).
    fn check_signature(&self, token: &str) -> Result<Verified, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false; // checked by `verify`, against the service clock
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?
            .claims;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or(TokenError::Invalid)?;
        let principal = principal_of(&claims).ok_or(TokenError::Invalid)?;
        Ok(Verified {
            principal,
            version: claims.ver,
            expires_at,
        })
    }
}

fn principal_of(claims: &Claims) -> Option<Principal> {
    let (kind, id) = claims.sub.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "admin" => Some(Principal::Admin { admin_id: id }),
        "user" => Some(Principal::Shopper { user_id: id }),
        "staff" => Some(Principal::Staff {
            staff_id: Some(id),
            merchant_id: claims.mid?,
            role: StaffRole::parse(claims.role.as_deref()?)?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(
            b"test-secret-test-secret-test-secret",
            std::time::Duration::from_secs(3600),
        )
    }

    #[test]
    fn a_token_checked_before_still_expires_and_a_changed_one_is_still_refused() {
        let keys = keys();
        let now = Utc::now();
        let who = Principal::Shopper { user_id: 7 };
        let (token, expires_at) = keys.issue(who, 0, now).unwrap();
        for _ in 0..2 {
            let verified = keys.verify(&token, now).expect("good");
            assert_eq!(verified.principal, who);
            assert_eq!(verified.expires_at.timestamp(), expires_at.timestamp());
        }
        assert_eq!(
            keys.verify(&token, expires_at).unwrap_err(),
            TokenError::Expired,
            "kept, but expired all the same"
        );
        // The same claims signed with another secret, and a token cut short.
        let other = TokenKeys::new(
            b"another-secret-another-secret-12",
            std::time::Duration::from_secs(3600),
        );
        let (forged, _) = other.issue(who, 0, now).unwrap();
        assert_eq!(keys.verify(&forged, now).unwrap_err(), TokenError::Invalid);
        assert_eq!(
            keys.verify(&token[..token.len() - 2], now).unwrap_err(),
            TokenError::Invalid
        );
        // A key of its own: the cache of one is not the other's.
        assert!(other.verify(&token, now).is_err());
    }
}
