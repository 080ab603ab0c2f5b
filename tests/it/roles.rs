//! Every role against every operation: allowed ones succeed, the rest are refused with the
//! right code and write nothing.

use serde_json::{json, Value};

use crate::helpers::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Anonymous,
    Shopper,
    Cashier,
    Manager,
    Owner,
    OtherOwner,
    Admin,
}

use Role::*;

const ALL: [Role; 7] = [
    Anonymous, Shopper, Cashier, Manager, Owner, OtherOwner, Admin,
];

struct Operation {
    name: &'static str,
    query: &'static str,
    allowed: &'static [Role],
}

const OPERATIONS: &[Operation] = &[
    Operation { name: "me", query: "{ me { id } }", allowed: &[Shopper] },
    Operation {
        name: "membership",
        query: "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
        allowed: &[Shopper],
    },
    Operation {
        name: "merchant",
        query: "query($m: ID!) { merchant(id: $m) { name stores { name } } }",
        allowed: &[Shopper, Cashier, Manager, Owner, OtherOwner, Admin],
    },
    Operation {
        name: "store qrCode",
        query: "query($m: ID!) { merchant(id: $m) { stores { qrCode { scene } } } }",
        allowed: &[Cashier, Manager, Owner, Admin],
    },
    Operation {
        name: "members",
        query: "query($m: ID!) { members(merchantId: $m) { edges { node { memberCode } } } }",
        allowed: &[Cashier, Manager, Owner],
    },
    Operation {
        name: "createMerchant",
        query: "mutation($u: String!) { createMerchant(input: { name: \"New\", ownerUsername: $u, ownerPassword: \"password-1\" }) { id } }",
        allowed: &[Admin],
    },
    Operation {
        name: "createStore",
        query: "mutation($m: ID!) { createStore(merchantId: $m, name: \"Branch\") { id } }",
        allowed: &[Manager, Owner],
    },
    Operation {
        name: "createStaff",
        query: "mutation($m: ID!, $u: String!) { createStaff(merchantId: $m, username: $u, password: \"password-1\", role: CASHIER) { id } }",
        allowed: &[Owner],
    },
    Operation {
        name: "joinByScene",
        query: "mutation($s: String!) { joinByScene(scene: $s) { memberCode } }",
        allowed: &[Shopper],
    },
    Operation {
        name: "setNickname",
        query: "mutation { setNickname(nickname: \"Xiao Li\") { nickname } }",
        allowed: &[Shopper],
    },
];

async fn row_counts(t: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in [
        "merchants",
        "stores",
        "staff",
        "memberships",
        "referral_codes",
    ] {
        counts.push(t.count(table).await);
    }
    counts
}

#[tokio::test]
async fn every_role_is_refused_every_operation_it_may_not_use() {
    let t = TestApp::new().await;
    let a = t.merchant_with_store("A").await;
    let b = t.merchant_with_store("B").await;
    let tokens: Vec<(Role, Option<String>)> = vec![
        (Anonymous, None),
        (Shopper, Some(t.shopper("role-shopper").await.0)),
        (Cashier, Some(t.staff(&a, "CASHIER").await)),
        (Manager, Some(t.staff(&a, "MANAGER").await)),
        (Owner, Some(a.owner_token.clone())),
        (OtherOwner, Some(b.owner_token.clone())),
        (Admin, Some(t.admin_token().await)),
    ];
    assert_eq!(tokens.len(), ALL.len());
    let mut checked = 0;
    for op in OPERATIONS {
        for (role, token) in &tokens {
            let vars: Value = json!({ "m": a.id, "s": a.store_scene, "u": unique("user") });
            let before = row_counts(&t).await;
            let response = t.gql(token.as_deref(), op.query, vars).await;
            if op.allowed.contains(role) {
                assert!(
                    response.get("errors").is_none(),
                    "{role:?} may use {}: {response}",
                    op.name
                );
            } else {
                let expected = if *role == Anonymous {
                    "UNAUTHENTICATED"
                } else {
                    "FORBIDDEN"
                };
                assert_eq!(
                    error_code(&response),
                    expected,
                    "{role:?} on {}: {response}",
                    op.name
                );
                assert_eq!(
                    row_counts(&t).await,
                    before,
                    "{role:?} on {} wrote something",
                    op.name
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, OPERATIONS.len() * ALL.len());
}
