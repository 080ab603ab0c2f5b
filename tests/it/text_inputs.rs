//! Text inputs: control characters and over-long text are refused before anything runs,
//! on every database (a NUL byte was an internal error on PostgreSQL), and nothing changes.

use serde_json::{json, Value};

use crate::helpers::*;

const NICKNAME: &str = "mutation($n: String!) { setNickname(nickname: $n) { nickname } }";
const REFUND: &str =
    "mutation($o: ID!, $r: String) { refundOrder(orderId: $o, reason: $r) { status refundReason } }";

fn refused(response: &Value) -> bool {
    error_code(response) == "INVALID_INPUT" && response["data"].is_null()
}

#[tokio::test]
async fn control_characters_are_refused_in_variables_and_in_the_document() {
    let t = TestApp::new().await;
    let (shopper, _) = t.shopper("text-shopper").await;
    t.ok(Some(&shopper), NICKNAME, json!({ "n": "Anna" })).await;
    for bad in [
        "An\u{0}na",
        "An\nna",
        "An\u{1b}[31mna",
        "An\u{7f}na",
        "An\u{85}na",
    ] {
        let response = t.gql(Some(&shopper), NICKNAME, json!({ "n": bad })).await;
        assert!(refused(&response), "{bad:?}: {response}");
        assert!(response["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("control characters"));
    }
    // Written in the document as an escape.
    let inline = t
        .gql(
            Some(&shopper),
            r#"mutation { setNickname(nickname: "Ann\u0000a") { nickname } }"#,
            json!({}),
        )
        .await;
    assert!(refused(&inline), "{inline}");
    let me = t.ok(Some(&shopper), "{ me { nickname } }", json!({})).await;
    assert_eq!(me["me"]["nickname"], "Anna");

    // At login, before any account is read; a store name; an idempotency key.
    let login = t
        .gql(
            None,
            "mutation($u: String!) { staffLogin(username: $u, password: \"whatever-1\") { token } }",
            json!({ "u": "ad\u{0}min" }),
        )
        .await;
    assert!(refused(&login), "{login}");
    let shop = t.shop(1).await;
    let store = t
        .gql(
            Some(&shop.merchant.owner_token),
            "mutation($m: ID!, $n: String!) { createStore(merchantId: $m, name: $n) { id } }",
            json!({ "m": shop.merchant.id, "n": "North\u{0}" }),
        )
        .await;
    assert!(refused(&store), "{store}");
    let user_id = shop.shoppers[0].1.clone();
    let order = t
        .order(
            &shop,
            &user_id,
            "10.00",
            json!({ "idempotencyKey": "k\u{0}1" }),
        )
        .await;
    assert!(refused(&order), "{order}");
    assert_eq!(t.count("orders").await, 0);
    assert_eq!(t.count("stores").await, 1);
}

#[tokio::test]
async fn a_refund_reason_is_at_most_200_characters_and_refused_beyond() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let user_id = shop.shoppers[0].1.clone();
    let order = t
        .order(&shop, &user_id, "10.00", json!({ "complete": false }))
        .await;
    let order_id = order["data"]["recordOrder"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for bad in [
        "x".repeat(201),
        "line one\nline two".into(),
        "x".repeat(1001),
    ] {
        let response = t
            .gql(
                Some(&shop.cashier),
                REFUND,
                json!({ "o": order_id, "r": bad }),
            )
            .await;
        assert!(refused(&response), "{response}");
    }
    let still_paid = t
        .ok(
            Some(&shop.cashier),
            "query($m: ID!) { orders(merchantId: $m, first: 5) { edges { node { status refundReason } } } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    assert_eq!(still_paid["orders"]["edges"][0]["node"]["status"], "PAID");
    let reason = "顾客改变主意".repeat(33) + "退款"; // 200 characters
    let refunded = t
        .ok(
            Some(&shop.cashier),
            REFUND,
            json!({ "o": order_id, "r": reason }),
        )
        .await;
    assert_eq!(refunded["refundOrder"]["status"], "REFUNDED");
    assert_eq!(refunded["refundOrder"]["refundReason"], reason.as_str());
}

#[tokio::test]
async fn a_withdrawal_note_over_200_characters_is_refused_and_the_request_stays_pending() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let (shopper, user_id) = shop.shoppers[0].clone();
    t.credit_cash(&shop.merchant.id, &user_id, "50.00").await;
    let requested = t
        .ok(
            Some(&shopper),
            "mutation($m: ID!) { requestWithdrawal(merchantId: $m, amount: \"20.00\") { id } }",
            json!({ "m": shop.merchant.id }),
        )
        .await;
    let id = requested["requestWithdrawal"]["id"].as_str().unwrap();
    const REVIEW: &str = "mutation($w: ID!, $n: String) { reviewWithdrawal(withdrawalId: $w, approve: false, note: $n) { status note } }";
    let long = t
        .gql(
            Some(&shop.merchant.owner_token),
            REVIEW,
            json!({ "w": id, "n": "n".repeat(201) }),
        )
        .await;
    assert!(refused(&long), "{long}");
    let wallet = t.wallet(&shopper, &shop.merchant.id).await;
    assert_eq!(wallet["cashOnHold"], "20.00");
    let reviewed = t
        .ok(
            Some(&shop.merchant.owner_token),
            REVIEW,
            json!({ "w": id, "n": "金额有误" }),
        )
        .await;
    assert_eq!(reviewed["reviewWithdrawal"]["status"], "REJECTED");
    assert_eq!(reviewed["reviewWithdrawal"]["note"], "金额有误");
}
