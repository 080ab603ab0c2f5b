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
    /// Refusals other than the usual (UNAUTHENTICATED, else FORBIDDEN): another merchant's
    /// store id reads as NOT_FOUND.
    refusals: &'static [(Role, &'static str)],
}

const OPERATIONS: &[Operation] = &[
    Operation { name: "me", query: "{ me { id } }", allowed: &[Shopper], refusals: &[] },
    Operation {
        name: "membership",
        query: "query($m: ID!) { membership(merchantId: $m) { memberCode } }",
        allowed: &[Shopper],
        refusals: &[],
    },
    Operation {
        name: "merchant",
        query: "query($m: ID!) { merchant(id: $m) { name stores { name } } }",
        allowed: &[Shopper, Cashier, Manager, Owner, OtherOwner, Admin],
        refusals: &[],
    },
    Operation {
        name: "store qrCode",
        query: "query($m: ID!) { merchant(id: $m) { stores { qrCode { scene } } } }",
        allowed: &[Cashier, Manager, Owner, Admin],
        refusals: &[],
    },
    Operation {
        name: "members",
        query: "query($m: ID!) { members(merchantId: $m) { edges { node { memberCode } } } }",
        allowed: &[Cashier, Manager, Owner],
        refusals: &[],
    },
    Operation {
        name: "createMerchant",
        query: "mutation($u: String!) { createMerchant(input: { name: \"New\", ownerUsername: $u, ownerPassword: \"password-1\" }) { id } }",
        allowed: &[Admin],
        refusals: &[],
    },
    Operation {
        name: "createStore",
        query: "mutation($m: ID!) { createStore(merchantId: $m, name: \"Branch\") { id } }",
        allowed: &[Manager, Owner],
        refusals: &[],
    },
    Operation {
        name: "createStaff",
        query: "mutation($m: ID!, $u: String!) { createStaff(merchantId: $m, username: $u, password: \"password-1\", role: CASHIER) { id } }",
        allowed: &[Owner],
        refusals: &[],
    },
    Operation {
        name: "joinByScene",
        query: "mutation($s: String!) { joinByScene(scene: $s) { memberCode } }",
        allowed: &[Shopper],
        refusals: &[],
    },
    Operation {
        name: "setNickname",
        query: "mutation { setNickname(nickname: \"Xiao Li\") { nickname } }",
        allowed: &[Shopper],
        refusals: &[],
    },
    Operation {
        name: "orders",
        query: "query($m: ID!) { orders(merchantId: $m) { edges { node { id } } } }",
        allowed: &[Cashier, Manager, Owner],
        refusals: &[],
    },
    Operation {
        name: "withdrawals",
        query: "query($m: ID!) { withdrawals(merchantId: $m) { id } }",
        allowed: &[Cashier, Manager, Owner],
        refusals: &[],
    },
    Operation {
        name: "dashboard",
        query: "query($m: ID!) { dashboard(merchantId: $m, from: \"2026-01-01T00:00:00Z\", to: \"2026-02-01T00:00:00Z\") { gmv } }",
        allowed: &[Manager, Owner],
        refusals: &[],
    },
    Operation {
        name: "recordOrder",
        query: "mutation($s: ID!, $who: ID!, $u: String!) { recordOrder(input: { storeId: $s, userId: $who, amount: \"10.00\", idempotencyKey: $u }) { id } }",
        allowed: &[Cashier, Manager, Owner],
        refusals: &[(OtherOwner, "NOT_FOUND")],
    },
    Operation {
        name: "configurePrograms",
        query: "mutation($m: ID!) { configurePrograms(merchantId: $m, input: { autoCompleteDays: 5 }) { version } }",
        allowed: &[Manager, Owner],
        refusals: &[],
    },
    Operation {
        name: "extendPointsExpiry",
        query: "mutation($m: ID!) { extendPointsExpiry(merchantId: $m, days: 5) }",
        allowed: &[Owner],
        refusals: &[],
    },
    Operation {
        name: "injectValueAddedPool",
        query: "mutation($m: ID!) { injectValueAddedPool(merchantId: $m, amount: \"1.00\") { pool } }",
        allowed: &[Owner],
        refusals: &[],
    },
    Operation {
        name: "requestWithdrawal",
        query: "mutation($m: ID!) { requestWithdrawal(merchantId: $m, amount: \"10.00\") { id } }",
        allowed: &[Shopper],
        refusals: &[],
    },
    Operation {
        name: "sellValueAddedPoints",
        query: "mutation($m: ID!) { sellValueAddedPoints(merchantId: $m, points: \"0.0001\") { net } }",
        allowed: &[Shopper],
        refusals: &[],
    },
    Operation {
        name: "simulateQueue",
        query: "query { simulateQueue(rules: { enabled: true, activeSlots: 3, queueRatio: \"0.4\", referralRatio: \"0.2\" }, orders: [{ user: \"A\", amount: \"10\" }]) { pool } }",
        allowed: &[Cashier, Manager, Owner, OtherOwner, Admin],
        refusals: &[],
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
        "orders",
        "ledger_postings",
        "withdrawals",
        "program_versions",
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
    // The shopper is a member with cash and value-added points; the merchant runs the
    // value-added program.
    let (shopper, shopper_id) = t.shopper("role-shopper").await;
    t.join(&shopper, &a.store_scene).await;
    t.configure(
        &a,
        json!({ "valueAdded": { "enabled": true, "poolRatio": "0.30", "mintRatio": "0.70" } }),
    )
    .await;
    let cashier = t.staff(&a, "CASHIER").await;
    t.ok(
        Some(&cashier),
        "mutation($s: ID!, $who: ID!) { recordOrder(input: { storeId: $s, userId: $who, amount: \"100.00\", idempotencyKey: \"seed\", complete: true }) { id } }",
        json!({ "s": a.store_id, "who": shopper_id }),
    )
    .await;
    t.credit_cash(&a.id, &shopper_id, "500.00").await;
    let tokens: Vec<(Role, Option<String>)> = vec![
        (Anonymous, None),
        (Shopper, Some(shopper)),
        (Cashier, Some(cashier)),
        (Manager, Some(t.staff(&a, "MANAGER").await)),
        (Owner, Some(a.owner_token.clone())),
        (OtherOwner, Some(b.owner_token.clone())),
        (Admin, Some(t.admin_token().await)),
    ];
    assert_eq!(tokens.len(), ALL.len());
    let mut checked = 0;
    for op in OPERATIONS {
        for (role, token) in &tokens {
            let scene_or_store = if op.query.contains("$s: String!") {
                &a.store_scene
            } else {
                &a.store_id
            };
            let vars: Value =
                json!({ "m": a.id, "s": scene_or_store, "u": unique("user"), "who": shopper_id });
            let before = row_counts(&t).await;
            let response = t.gql(token.as_deref(), op.query, vars).await;
            if op.allowed.contains(role) {
                assert!(
                    response.get("errors").is_none(),
                    "{role:?} may use {}: {response}",
                    op.name
                );
            } else {
                let expected = match op.refusals.iter().find(|(r, _)| r == role) {
                    Some((_, code)) => *code,
                    None if *role == Anonymous => "UNAUTHENTICATED",
                    None => "FORBIDDEN",
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
