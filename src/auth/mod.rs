//! Who is calling: tokens, roles, passwords and the WeChat login.

mod limiter;
mod password;
mod token;
pub mod wechat;

pub use limiter::LoginLimiter;
pub use password::{hash_password, verify_password};
pub use token::{Claims, StaffCache, StaffRow, TokenError, TokenKeys, Verified};

use crate::error::{AppError, AppResult};

/// A staff member's role at one merchant, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, async_graphql::Enum)]
pub enum StaffRole {
    Owner,
    Manager,
    Cashier,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "OWNER",
            Self::Manager => "MANAGER",
            Self::Cashier => "CASHIER",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "OWNER" => Some(Self::Owner),
            "MANAGER" => Some(Self::Manager),
            "CASHIER" => Some(Self::Cashier),
            _ => None,
        }
    }

    /// Whether this role may do what `needed` may (an owner may do a cashier's work).
    pub fn covers(self, needed: StaffRole) -> bool {
        self <= needed
    }
}

/// The caller of a request, from its bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    /// A bearer credential was sent but is refused: the caller is told why when an operation
    /// needs a login; public operations still work.
    Rejected(Rejection),
    Admin {
        admin_id: i64,
    },
    /// A staff member (`staff_id`), or a system with one of the merchant's API keys
    /// (`staff_id` is `None`), acting with `role`.
    Staff {
        staff_id: Option<i64>,
        merchant_id: i64,
        role: StaffRole,
    },
    Shopper {
        user_id: i64,
    },
}

/// Why a bearer credential was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    Expired,
    Invalid,
    /// The account was disabled or its password changed after the token was issued, or the
    /// API key was revoked.
    Revoked,
}

impl Rejection {
    pub fn message(self) -> &'static str {
        match self {
            Self::Expired => "your login has expired; log in again",
            Self::Invalid => "the token is invalid; log in again",
            Self::Revoked => "this login was revoked; log in again",
        }
    }
}

impl Principal {
    fn require_login(&self) -> AppResult<()> {
        match self {
            Self::Anonymous => Err(AppError::unauthenticated("log in first")),
            Self::Rejected(why) => Err(AppError::unauthenticated(why.message())),
            _ => Ok(()),
        }
    }

    pub fn require_authenticated(&self) -> AppResult<()> {
        self.require_login()
    }

    pub fn require_admin(&self) -> AppResult<()> {
        self.require_login()?;
        match self {
            Self::Admin { .. } => Ok(()),
            _ => Err(AppError::forbidden(
                "only a platform administrator may do this",
            )),
        }
    }

    pub fn require_shopper(&self) -> AppResult<i64> {
        self.require_login()?;
        match self {
            Self::Shopper { user_id } => Ok(*user_id),
            _ => Err(AppError::forbidden("only a shopper may do this")),
        }
    }

    /// A staff member of `merchant_id` whose role covers `needed`.
    pub fn require_staff(&self, merchant_id: i64, needed: StaffRole) -> AppResult<Option<i64>> {
        self.require_login()?;
        match self {
            Self::Staff {
                staff_id,
                merchant_id: own,
                role,
            } if *own == merchant_id => {
                if role.covers(needed) {
                    Ok(*staff_id)
                } else {
                    Err(AppError::forbidden(format!(
                        "this needs the {} role or higher",
                        needed.as_str()
                    )))
                }
            }
            _ => Err(AppError::forbidden("you are not staff of this merchant")),
        }
    }

    /// Staff (of whichever merchant) whose role covers `needed`: `(staff_id, merchant_id)`,
    /// `staff_id` being `None` for an API key.
    /// For operations on an object (an order, a withdrawal) that must then belong to that
    /// merchant.
    pub fn require_own_staff(&self, needed: StaffRole) -> AppResult<(Option<i64>, i64)> {
        self.require_login()?;
        match self {
            Self::Staff {
                staff_id,
                merchant_id,
                role,
            } => {
                if role.covers(needed) {
                    Ok((*staff_id, *merchant_id))
                } else {
                    Err(AppError::forbidden(format!(
                        "this needs the {} role or higher",
                        needed.as_str()
                    )))
                }
            }
            _ => Err(AppError::forbidden("only a merchant's staff may do this")),
        }
    }

    /// Staff of `merchant_id` (any role) or a platform administrator.
    pub fn can_see_merchant_internals(&self, merchant_id: i64) -> bool {
        match self {
            Self::Admin { .. } => true,
            Self::Staff {
                merchant_id: own, ..
            } => *own == merchant_id,
            _ => false,
        }
    }
}
