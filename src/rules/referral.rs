//! Referral binding (RULES.md "Referral binding"): who a scan binds a shopper to.

/// What a verified scene points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScannedCode {
    pub merchant_id: i64,
    pub store_id: i64,
    /// The member whose personal code this is; `None` for a store's own code.
    pub referrer_id: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinDecision {
    /// Create the membership with this store and referrer, bound for good.
    Join {
        store_id: i64,
        referrer_id: Option<i64>,
    },
    /// Already a member: the first binding stands and nothing changes.
    AlreadyMember,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum JoinRejection {
    #[error("you cannot use your own referral code")]
    SelfReferral,
    #[error("the referrer is not a member of this merchant")]
    ReferrerNotMember,
}

/// Decides a scan by `user_id` of `code`.
///
/// `already_member`: the shopper has a membership of the code's merchant.
/// `referrer_is_member`: the code's referrer (if any) is a member of that merchant.
pub fn decide_join(
    user_id: i64,
    code: ScannedCode,
    already_member: bool,
    referrer_is_member: bool,
) -> Result<JoinDecision, JoinRejection> {
    if code.referrer_id == Some(user_id) {
        return Err(JoinRejection::SelfReferral);
    }
    if already_member {
        return Ok(JoinDecision::AlreadyMember);
    }
    if code.referrer_id.is_some() && !referrer_is_member {
        return Err(JoinRejection::ReferrerNotMember);
    }
    Ok(JoinDecision::Join {
        store_id: code.store_id,
        referrer_id: code.referrer_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORE: ScannedCode = ScannedCode {
        merchant_id: 1,
        store_id: 10,
        referrer_id: None,
    };
    const REFERRAL: ScannedCode = ScannedCode {
        merchant_id: 1,
        store_id: 10,
        referrer_id: Some(7),
    };

    #[test]
    fn a_store_code_binds_the_store_only() {
        assert_eq!(
            decide_join(5, STORE, false, false),
            Ok(JoinDecision::Join {
                store_id: 10,
                referrer_id: None
            })
        );
    }

    #[test]
    fn a_referral_code_binds_store_and_referrer() {
        assert_eq!(
            decide_join(5, REFERRAL, false, true),
            Ok(JoinDecision::Join {
                store_id: 10,
                referrer_id: Some(7)
            })
        );
    }

    #[test]
    fn a_later_scan_never_rebinds() {
        assert_eq!(
            decide_join(5, REFERRAL, true, true),
            Ok(JoinDecision::AlreadyMember)
        );
        assert_eq!(
            decide_join(5, STORE, true, false),
            Ok(JoinDecision::AlreadyMember)
        );
    }

    #[test]
    fn self_referral_is_rejected_even_for_a_member() {
        assert_eq!(
            decide_join(7, REFERRAL, true, true),
            Err(JoinRejection::SelfReferral)
        );
        assert_eq!(
            decide_join(7, REFERRAL, false, true),
            Err(JoinRejection::SelfReferral)
        );
    }

    #[test]
    fn a_referrer_outside_the_merchant_is_rejected() {
        assert_eq!(
            decide_join(5, REFERRAL, false, false),
            Err(JoinRejection::ReferrerNotMember)
        );
    }
}
