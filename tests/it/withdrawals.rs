//! RULES.md "Withdrawals": held at once, paid or returned on review.

use serde_json::json;

use crate::helpers::*;

const REQUEST: &str = "mutation($m: ID!, $a: Decimal!) { requestWithdrawal(merchantId: $m, amount: $a) { id amount fee net status } }";
const REVIEW: &str = "mutation($w: ID!, $ok: Boolean!) { reviewWithdrawal(withdrawalId: $w, approve: $ok, note: \"checked\") { status note fee net reviewedAt } }";

#[tokio::test]
async fn held_then_paid_or_returned() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    let m = &shop.merchant;
    t.credit_cash(&m.id, user, "100.00").await;

    let first = t
        .ok(Some(token), REQUEST, json!({ "m": m.id, "a": "30" }))
        .await;
    let first = &first["requestWithdrawal"];
    assert_eq!(
        (
            first["amount"].as_str(),
            first["fee"].as_str(),
            first["status"].as_str()
        ),
        (Some("30.00"), Some("0.00"), Some("PENDING"))
    );
    let wallet = t.wallet(token, &m.id).await;
    assert_eq!(
        (wallet["cash"].as_str(), wallet["cashOnHold"].as_str()),
        (Some("70.00"), Some("30.00"))
    );

    let second = t
        .ok(Some(token), REQUEST, json!({ "m": m.id, "a": "50.00" }))
        .await;
    let pending = t
        .ok(Some(&m.owner_token), "query($m: ID!) { withdrawals(merchantId: $m, status: PENDING) { id amount user { id } } }", json!({ "m": m.id }))
        .await;
    assert_eq!(pending["withdrawals"].as_array().unwrap().len(), 2);
    assert_eq!(pending["withdrawals"][0]["user"]["id"], user.as_str());

    let approved = t
        .ok(
            Some(&m.owner_token),
            REVIEW,
            json!({ "w": first["id"], "ok": true }),
        )
        .await;
    assert_eq!(approved["reviewWithdrawal"]["status"], "APPROVED");
    assert_eq!(approved["reviewWithdrawal"]["note"], "checked");
    let rejected = t
        .ok(
            Some(&m.owner_token),
            REVIEW,
            json!({ "w": second["requestWithdrawal"]["id"], "ok": false }),
        )
        .await;
    assert_eq!(rejected["reviewWithdrawal"]["status"], "REJECTED");
    let wallet = t.wallet(token, &m.id).await;
    assert_eq!(
        (wallet["cash"].as_str(), wallet["cashOnHold"].as_str()),
        (Some("70.00"), Some("0.00"))
    );
    let kinds: Vec<(&str, &str)> = wallet["transactions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["kind"].as_str().unwrap(),
                e["node"]["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("WITHDRAWAL_RETURNED", "50.00"),
            ("WITHDRAWAL_RETURNED", "-50.00"),
            ("WITHDRAWAL_PAID", "-30.00"),
            ("WITHDRAWAL_HOLD", "50.00"),
            ("WITHDRAWAL_HOLD", "-50.00"),
            ("WITHDRAWAL_HOLD", "30.00"),
            ("WITHDRAWAL_HOLD", "-30.00"),
            ("QUEUE_SHARE", "100.00"),
        ]
    );
    let mine = t
        .ok(
            Some(token),
            "query($m: ID!) { membership(merchantId: $m) { withdrawals { amount status note } } }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(
        mine["membership"]["withdrawals"],
        json!([
            { "amount": "50.00", "status": "REJECTED", "note": "checked" },
            { "amount": "30.00", "status": "APPROVED", "note": "checked" },
        ])
    );
    // Reviewing twice is a conflict and moves nothing.
    let again = t
        .gql(
            Some(&m.owner_token),
            REVIEW,
            json!({ "w": first["id"], "ok": false }),
        )
        .await;
    assert_eq!(error_code(&again), "CONFLICT");
    assert_eq!(t.wallet(token, &m.id).await["cash"], "70.00");
    t.assert_audit_clean().await;
}

#[tokio::test]
async fn minimum_fee_and_bad_requests() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (token, user) = &shop.shoppers[0];
    let m = &shop.merchant;
    t.configure(
        m,
        json!({ "withdrawal": { "minWithdrawal": "10.00", "feeRatio": "0.015" } }),
    )
    .await;
    t.credit_cash(&m.id, user, "60.00").await;
    let before = t.count("withdrawals").await;
    for (amount, code) in [
        ("9.99", "INVALID_INPUT"),
        ("0", "INVALID_INPUT"),
        ("-5", "INVALID_INPUT"),
        ("10.001", "INVALID_INPUT"),
        ("1000000.01", "INVALID_INPUT"),
        ("1e1", "INVALID_INPUT"),
        ("+20", "INVALID_INPUT"),
        ("20.", "INVALID_INPUT"),
        ("1_0", "INVALID_INPUT"),
        ("60.01", "INSUFFICIENT_FUNDS"),
    ] {
        let response = t
            .gql(Some(token), REQUEST, json!({ "m": m.id, "a": amount }))
            .await;
        assert_eq!(error_code(&response), code, "{amount}");
    }
    // A JSON number is not money: clients hold it as a binary float.
    let response = t
        .gql(Some(token), REQUEST, json!({ "m": m.id, "a": 20.10 }))
        .await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("string"));
    assert_eq!(t.count("withdrawals").await, before);
    assert_eq!(t.wallet(token, &m.id).await["cash"], "60.00");
    let with_fee = t
        .ok(Some(token), REQUEST, json!({ "m": m.id, "a": "33.33" }))
        .await;
    // floor2(33.33 × 0.015) = 0.49
    assert_eq!(with_fee["requestWithdrawal"]["fee"], "0.49");
    assert_eq!(with_fee["requestWithdrawal"]["net"], "32.84");
    // Not a member of another merchant; a staff token cannot ask.
    let other = t.merchant_with_store("Elsewhere").await;
    let response = t
        .gql(Some(token), REQUEST, json!({ "m": other.id, "a": "10" }))
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    let response = t
        .gql(
            Some(&shop.cashier),
            REQUEST,
            json!({ "m": m.id, "a": "10" }),
        )
        .await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    // Another merchant's manager cannot review this one's withdrawal.
    let response = t
        .gql(
            Some(&other.owner_token),
            REVIEW,
            json!({ "w": with_fee["requestWithdrawal"]["id"], "ok": true }),
        )
        .await;
    assert_eq!(error_code(&response), "NOT_FOUND");
    t.assert_audit_clean().await;
}
