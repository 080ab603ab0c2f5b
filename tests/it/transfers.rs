//! Withdrawals paid into the shopper's WeChat balance by merchant transfer, against the
//! stand-in: the signed transfer request, confirmation, success, failure and cancellation
//! returning exactly the amount, raced approvals, replayed and lost notifications, and the
//! audit after each.

use chrono::Duration;
use fenhong::clock::Clock;
use serde_json::{json, Value};

use crate::{
    helpers::*,
    wechat_pay::{pay_shop, Pay},
};

const REQUEST: &str = "mutation($m: ID!, $a: Decimal!) { requestWithdrawal(merchantId: $m, amount: $a) { id amount fee net status } }";
const REVIEW: &str = "mutation($w: ID!) { reviewWithdrawal(withdrawalId: $w, approve: true) { id status net confirmation { mchId appId packageInfo } failReason } }";
const MINE: &str = "query($m: ID!) { membership(merchantId: $m) { withdrawals { id status failReason confirmation { mchId appId packageInfo } } wallet { cash cashOnHold } } }";
const CANCEL: &str =
    "mutation($w: ID!) { cancelWithdrawal(withdrawalId: $w) { id status failReason } }";

/// A WeChat Pay shop whose shopper 0 holds 100.00 cash; withdrawals cost a 10 % fee.
async fn transfer_shop() -> Pay {
    let p = pay_shop(1).await;
    p.t.configure(
        &p.shop.merchant,
        json!({ "withdrawal": { "minWithdrawal": "10.00", "feeRatio": "0.10" } }),
    )
    .await;
    p.t.credit_cash(&p.shop.merchant.id, p.shopper(0).1, "100.00")
        .await;
    p
}

async fn request(p: &Pay, amount: &str) -> String {
    let data =
        p.t.ok(
            Some(p.shopper(0).0),
            REQUEST,
            json!({ "m": p.shop.merchant.id, "a": amount }),
        )
        .await;
    data["requestWithdrawal"]["id"].as_str().unwrap().to_owned()
}

async fn approve(p: &Pay, id: &str) -> Value {
    p.t.ok(
        Some(&p.shop.merchant.owner_token),
        REVIEW,
        json!({ "w": id }),
    )
    .await["reviewWithdrawal"]
        .clone()
}

async fn mine(p: &Pay) -> Value {
    p.t.ok(
        Some(p.shopper(0).0),
        MINE,
        json!({ "m": p.shop.merchant.id }),
    )
    .await["membership"]
        .clone()
}

fn bill_no(id: &str) -> String {
    fenhong::services::transfers::out_bill_no(id.parse().unwrap())
}

fn transfer_requests(p: &Pay) -> Vec<Value> {
    p.standin
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v3/fund-app/mch-transfer/transfer-bills")
        .map(|r| {
            assert!(r.signature_valid);
            serde_json::from_str(&r.body).unwrap()
        })
        .collect()
}

async fn sweep(p: &Pay) -> usize {
    fenhong::services::transfers::sweep(&p.t.app.state, p.t.clock.now())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_approved_withdrawal_is_transferred_confirmed_and_paid() {
    let p = transfer_shop().await;
    let id = request(&p, "50.00").await;
    let approved = approve(&p, &id).await;
    assert_eq!(approved["status"], "TRANSFERRING");
    assert_eq!(approved["net"], "45.00");
    // The manager sees no confirmation package; the shopper does.
    assert!(approved["confirmation"].is_null());

    let sent = transfer_requests(&p);
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    assert_eq!(body["transfer_amount"], 4500);
    assert_eq!(body["out_bill_no"], bill_no(&id));
    assert_eq!(body["transfer_scene_id"], "1000");
    assert_eq!(body["user_recv_perception"], "现金奖励");
    assert_eq!(body["appid"], fenhong::config::DEVELOPMENT_APPID);
    assert!(body["openid"].as_str().unwrap().starts_with("dev-"));
    let infos: Vec<&str> = body["transfer_scene_report_infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["info_type"].as_str().unwrap())
        .collect();
    assert_eq!(infos, ["活动名称", "奖励说明"]);

    let state = mine(&p).await;
    let waiting = &state["withdrawals"][0];
    assert_eq!(waiting["status"], "TRANSFERRING");
    assert_eq!(waiting["confirmation"]["mchId"], "1230000109");
    assert_eq!(
        waiting["confirmation"]["appId"],
        fenhong::config::DEVELOPMENT_APPID
    );
    assert_eq!(
        p.standin.transfer_bill(&bill_no(&id)).unwrap().state,
        "WAIT_USER_CONFIRM"
    );
    assert!(!waiting["confirmation"]["packageInfo"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(state["wallet"]["cash"], "50.00");
    assert_eq!(state["wallet"]["cashOnHold"], "50.00");

    // She confirms in the mini-program; WeChat says so.
    p.standin.confirm_transfer(&bill_no(&id));
    let n = p.standin.transfer_notification(&bill_no(&id));
    assert_eq!(p.deliver(&n).await.0, 204);
    assert_eq!(p.deliver(&n).await.0, 204); // replayed: nothing more
    let state = mine(&p).await;
    assert_eq!(state["withdrawals"][0]["status"], "PAID");
    assert!(state["withdrawals"][0]["confirmation"].is_null());
    assert_eq!(state["wallet"]["cash"], "50.00");
    assert_eq!(state["wallet"]["cashOnHold"], "0.00");
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_failed_or_cancelled_transfer_returns_exactly_the_amount() {
    let p = transfer_shop().await;
    let failed = request(&p, "30.00").await;
    let cancelled = request(&p, "20.00").await;
    approve(&p, &failed).await;
    approve(&p, &cancelled).await;
    assert_eq!(mine(&p).await["wallet"]["cash"], "50.00");

    p.standin.transfer_ends(&bill_no(&failed), "FAIL");
    assert_eq!(
        p.deliver(&p.standin.transfer_notification(&bill_no(&failed)))
            .await
            .0,
        204
    );
    let state = mine(&p).await;
    assert_eq!(state["wallet"]["cash"], "80.00");
    assert_eq!(state["wallet"]["cashOnHold"], "20.00");
    p.t.assert_audit_clean().await;

    // Never confirmed: WeChat cancels it; the lookup finds out (no notification).
    p.standin.transfer_ends(&bill_no(&cancelled), "CANCELLED");
    assert_eq!(sweep(&p).await, 0, "not before a minute");
    p.t.clock.advance(Duration::seconds(61));
    assert_eq!(sweep(&p).await, 1);
    let state = mine(&p).await;
    assert_eq!(state["wallet"]["cash"], "100.00");
    assert_eq!(state["wallet"]["cashOnHold"], "0.00");
    let statuses: Vec<&str> = state["withdrawals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["FAILED", "FAILED"]);
    assert!(state["withdrawals"][1]["failReason"].is_string());
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn the_shopper_cancels_while_pending_or_while_waiting_to_confirm() {
    let p = transfer_shop().await;
    let pending = request(&p, "10.00").await;
    let cancelled =
        p.t.ok(Some(p.shopper(0).0), CANCEL, json!({ "w": pending }))
            .await;
    assert_eq!(cancelled["cancelWithdrawal"]["status"], "FAILED");
    assert_eq!(mine(&p).await["wallet"]["cash"], "100.00");
    assert!(transfer_requests(&p).is_empty());

    let waiting = request(&p, "40.00").await;
    approve(&p, &waiting).await;
    // Another shopper cannot cancel it.
    let (other, _) = p.t.shopper("intruder").await;
    let refused = p.t.gql(Some(&other), CANCEL, json!({ "w": waiting })).await;
    assert_eq!(error_code(&refused), "NOT_FOUND");
    let data =
        p.t.ok(Some(p.shopper(0).0), CANCEL, json!({ "w": waiting }))
            .await;
    assert_eq!(data["cancelWithdrawal"]["status"], "FAILED");
    assert_eq!(
        p.standin.transfer_bill(&bill_no(&waiting)).unwrap().state,
        "CANCELLED"
    );
    let state = mine(&p).await;
    assert_eq!(state["wallet"]["cash"], "100.00");
    assert_eq!(state["wallet"]["cashOnHold"], "0.00");
    // A late notification of the cancellation changes nothing.
    let n = p.standin.transfer_notification(&bill_no(&waiting));
    assert_eq!(p.deliver(&n).await.0, 204);
    assert_eq!(mine(&p).await["wallet"]["cash"], "100.00");
    p.t.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_approvals_at_once_make_one_transfer() {
    let p = transfer_shop().await;
    let id = request(&p, "60.00").await;
    let approvals = (0..10).map(|_| {
        p.t.gql(
            Some(&p.shop.merchant.owner_token),
            REVIEW,
            json!({ "w": id }),
        )
    });
    let answers = futures::future::join_all(approvals).await;
    let accepted = answers.iter().filter(|a| a.get("errors").is_none()).count();
    assert!(accepted >= 1, "{answers:?}");
    for answer in &answers {
        if answer.get("errors").is_some() {
            assert_eq!(error_code(answer), "CONFLICT", "{answer}");
        }
    }
    assert_eq!(transfer_requests(&p).len(), 1);
    p.standin.confirm_transfer(&bill_no(&id));
    // Lost notification: the lookup ends it.
    p.t.clock.advance(Duration::seconds(61));
    assert_eq!(sweep(&p).await, 1);
    assert_eq!(sweep(&p).await, 0);
    let state = mine(&p).await;
    assert_eq!(state["withdrawals"][0]["status"], "PAID");
    assert_eq!(state["wallet"]["cash"], "40.00");
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_transfer_wechat_never_received_is_sent_again_and_limits_hold() {
    let p = transfer_shop().await;
    let id = request(&p, "20.00").await;
    p.standin.fail_next(
        "/v3/fund-app/mch-transfer/transfer-bills",
        500,
        "SYSTEM_ERROR",
    );
    let approved = approve(&p, &id).await;
    assert_eq!(approved["status"], "TRANSFERRING");
    assert!(p.standin.transfer_bill(&bill_no(&id)).is_none());
    p.t.clock.advance(Duration::seconds(61));
    sweep(&p).await;
    let bill = p.standin.transfer_bill(&bill_no(&id)).expect("sent again");
    assert_eq!(bill.transfer_amount, Some(1800));

    // maxWithdrawal (default 200.00) caps one request.
    p.t.credit_cash(&p.shop.merchant.id, p.shopper(0).1, "500.00")
        .await;
    let too_much =
        p.t.gql(
            Some(p.shopper(0).0),
            REQUEST,
            json!({ "m": p.shop.merchant.id, "a": "200.01" }),
        )
        .await;
    assert_eq!(error_code(&too_much), "INVALID_INPUT", "{too_much}");
    p.t.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_and_the_wallet_follow_each_step_and_liabilities_count_money_in_transfer() {
    let p = transfer_shop().await;
    let address = p.t.serve().await;
    let (mut owner, _) = WsClient::connect(address, &p.shop.merchant.owner_token).await;
    owner
        .subscribe(
            "feed",
            "subscription($m: ID!) { merchantFeed(merchantId: $m) { kind amount withdrawalId } }",
            json!({ "m": p.shop.merchant.id }),
        )
        .await;
    let (mut shopper, _) = WsClient::connect(address, p.shopper(0).0).await;
    shopper
        .subscribe(
            "w",
            "subscription($m: ID!) { walletUpdated(merchantId: $m) { cash cashOnHold } }",
            json!({ "m": p.shop.merchant.id }),
        )
        .await;
    assert_eq!(
        shopper.next().await["payload"]["data"]["walletUpdated"],
        json!({ "cash": "100.00", "cashOnHold": "0.00" })
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    const LIABILITIES: &str = "query($m: ID!) { dashboard(merchantId: $m, from: \"2026-01-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\") { liabilities } }";
    assert_eq!(liabilities(&p, LIABILITIES).await, "100.00");

    let id = request(&p, "50.00").await;
    let event = owner.next().await["payload"]["data"]["merchantFeed"].clone();
    assert_eq!(event["kind"], "WITHDRAWAL_REQUESTED");
    assert_eq!(
        shopper.next().await["payload"]["data"]["walletUpdated"],
        json!({ "cash": "50.00", "cashOnHold": "50.00" })
    );
    approve(&p, &id).await;
    let event = owner.next().await["payload"]["data"]["merchantFeed"].clone();
    assert_eq!(
        event,
        json!({ "kind": "WITHDRAWAL_TRANSFERRING", "amount": "50.00", "withdrawalId": id })
    );
    // In transfer, the money is still owed to her.
    assert_eq!(liabilities(&p, LIABILITIES).await, "100.00");
    p.standin.confirm_transfer(&bill_no(&id));
    assert_eq!(
        p.deliver(&p.standin.transfer_notification(&bill_no(&id)))
            .await
            .0,
        204
    );
    let event = owner.next().await["payload"]["data"]["merchantFeed"].clone();
    assert_eq!(event["kind"], "WITHDRAWAL_PAID");
    // The wallet heard the approval (nothing moved) and the payment.
    let mut last = shopper.next().await;
    while last["payload"]["data"]["walletUpdated"]["cashOnHold"] != "0.00" {
        last = shopper.next().await;
    }
    assert_eq!(
        last["payload"]["data"]["walletUpdated"],
        json!({ "cash": "50.00", "cashOnHold": "0.00" })
    );
    assert_eq!(liabilities(&p, LIABILITIES).await, "50.00");
}

async fn liabilities(p: &Pay, query: &str) -> Value {
    p.t.ok(
        Some(&p.shop.merchant.owner_token),
        query,
        json!({ "m": p.shop.merchant.id }),
    )
    .await["dashboard"]["liabilities"]
        .clone()
}
