//! WeChat Pay, money in, against the stand-in that speaks API v3 as WeChat does (signed
//! requests checked, signed answers, encrypted and signed notifications): payments that
//! become orders with RULES.md's rewards, every bad or replayed notification changing
//! nothing, lost notifications, closing, held points, refunds, and the audit after each.

use chrono::Duration;
use fenhong::clock::Clock;
use serde_json::{json, Value};
use wechatpay::{
    standin::{SignedNotification, StandIn, StandInConfig},
    test_keys, Notification, Transaction,
};

use crate::{helpers::*, queue::queue_rules};

const CREATE: &str = "mutation($i: CreatePaymentInput!) { createPayment(input: $i) { id outTradeNo status amount cashAmount pointsUsed expiresAt requestPayment { timeStamp nonceStr package signType paySign } order { id } } }";
const PAYMENT: &str = "query($id: ID!) { payment(id: $id) { status order { id status amount cashPaid pointsUsed refundedAmount rewards { kind amount beneficiary { id } } } } }";
const REFUND: &str = "mutation($o: ID!, $a: Decimal, $r: String) { refundOrder(orderId: $o, amount: $a, reason: $r) { id status cashPaid refundedAmount refunds { id amount status reason } } }";

pub struct Pay {
    pub t: TestApp,
    pub standin: StandIn,
    pub shop: Shop,
}

/// A shop with the queue (RULES.md: N = 3, q = 0.40, r1 = 0.20) and rebate programs and
/// `shoppers` members, its WeChat Pay connected to the stand-in.
pub async fn pay_shop(shoppers: usize) -> Pay {
    let mut config = StandInConfig::for_tests();
    config.appid = fenhong::config::DEVELOPMENT_APPID.into();
    let standin = StandIn::start(config).await;
    let base = standin.base_url();
    let t = TestApp::with_config(|c| c.wechatpay_api_base = base).await;
    let shop = t.shop(shoppers).await;
    t.configure(&shop.merchant, json!({ "queue": queue_rules() }))
        .await;
    let status = t
        .ok(
            Some(&shop.merchant.owner_token),
            "mutation($m: ID!, $i: WechatPayInput!) { configureWechatPay(merchantId: $m, input: $i) { mchid connected platformPublicKeyId } }",
            json!({ "m": shop.merchant.id, "i": wechat_pay_input(&standin) }),
        )
        .await;
    assert_eq!(status["configureWechatPay"]["connected"], true);
    Pay { t, standin, shop }
}

fn wechat_pay_input(standin: &StandIn) -> Value {
    let c = standin.config();
    json!({
        "mchid": c.mchid,
        "merchantSerialNo": c.merchant_serial_no,
        "privateKeyPem": test_keys::MERCHANT_PRIVATE_KEY_PEM,
        "apiV3Key": String::from_utf8(c.api_v3_key.to_vec()).unwrap(),
        "platformPublicKeyId": c.platform_public_key_id,
        "platformPublicKeyPem": test_keys::PLATFORM_PUBLIC_KEY_PEM,
    })
}

impl Pay {
    pub fn shopper(&self, i: usize) -> (&str, &str) {
        let (token, id) = &self.shop.shoppers[i];
        (token, id)
    }

    /// Shopper `i` starts paying `amount` (with `points`): the payment's fields.
    async fn create(&self, i: usize, amount: &str, points: i32) -> Value {
        let response = self
            .t
            .gql(
                Some(self.shopper(i).0),
                CREATE,
                json!({ "i": { "storeId": self.shop.merchant.store_id, "amount": amount, "pointsToUse": points } }),
            )
            .await;
        assert!(response.get("errors").is_none(), "{response}");
        response["data"]["createPayment"].clone()
    }

    /// Sends a notification as WeChat would, stamped with the server's clock; the status.
    pub async fn deliver(&self, n: &SignedNotification) -> (u16, String) {
        let n = n.with_timestamp(self.t.clock.now().timestamp());
        self.deliver_as_is(&n).await
    }

    pub async fn deliver_as_is(&self, n: &SignedNotification) -> (u16, String) {
        let uri = format!("/wechatpay/notify/{}", self.shop.merchant.id);
        let (status, body) = self.t.request(n.http_request(&uri)).await;
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The shopper pays at WeChat and WeChat notifies: the payment afterwards.
    async fn pay(&self, i: usize, payment: &Value) -> Value {
        let out_trade_no = payment["outTradeNo"].as_str().unwrap();
        self.standin.pay(out_trade_no);
        let (status, body) = self
            .deliver(&self.standin.transaction_notification(out_trade_no))
            .await;
        assert_eq!(status, 204, "{body}");
        self.read(i, payment).await
    }

    async fn read(&self, i: usize, payment: &Value) -> Value {
        self.t
            .ok(
                Some(self.shopper(i).0),
                PAYMENT,
                json!({ "id": payment["id"] }),
            )
            .await["payment"]
            .clone()
    }

    async fn sweep(&self) -> fenhong::services::payments::PaymentSweep {
        fenhong::services::payments::sweep(&self.t.app.state, self.t.clock.now())
            .await
            .expect("sweep")
    }

    async fn clearing(&self) -> String {
        let merchant: i64 = self.shop.merchant.id.parse().unwrap();
        fenhong::ledger::balance(
            &self.t.app.state.db,
            merchant,
            fenhong::ledger::Owner::Merchant,
            fenhong::ledger::AccountKind::WechatClearing,
        )
        .await
        .unwrap()
        .to_string()
    }
}

#[tokio::test]
async fn a_payment_becomes_a_completed_order_with_the_rules_rewards_and_no_cashier() {
    let p = pay_shop(2).await;
    let payment = p.create(0, "1000.00", 0).await;
    assert_eq!(payment["status"], "PENDING");
    assert_eq!(payment["cashAmount"], "1000.00");
    assert!(payment["order"].is_null());

    // The prepay request reached WeChat signed by the merchant's key, with the fields API.md
    // lists and the amount in fen.
    let prepay = p
        .standin
        .requests()
        .into_iter()
        .find(|r| r.path == "/v3/pay/transactions/jsapi")
        .expect("a jsapi request");
    assert!(prepay.signature_valid);
    let body: Value = serde_json::from_str(&prepay.body).unwrap();
    assert_eq!(
        body["amount"],
        json!({ "total": 100000, "currency": "CNY" })
    );
    assert_eq!(body["mchid"], "1230000109");
    assert_eq!(body["appid"], fenhong::config::DEVELOPMENT_APPID);
    assert_eq!(body["out_trade_no"], payment["outTradeNo"]);
    assert!(body["payer"]["openid"]
        .as_str()
        .unwrap()
        .starts_with("dev-"));
    assert!(body["notify_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/wechatpay/notify/{}", p.shop.merchant.id)));

    // What wx.requestPayment takes, signed with the merchant key over its four lines.
    let request = &payment["requestPayment"];
    assert_eq!(request["signType"], "RSA");
    let package = request["package"].as_str().unwrap();
    assert!(package.starts_with("prepay_id="));
    let message = format!(
        "{}\n{}\n{}\n{}\n",
        fenhong::config::DEVELOPMENT_APPID,
        request["timeStamp"].as_str().unwrap(),
        request["nonceStr"].as_str().unwrap(),
        package
    );
    let merchant_key = wechatpay::parse_public_key(test_keys::MERCHANT_PUBLIC_KEY_PEM).unwrap();
    wechatpay::verify(
        &merchant_key,
        &message,
        request["paySign"].as_str().unwrap(),
    )
    .expect("paySign verifies with the merchant's public key");

    // RULES.md "A sequence from an empty queue": a and b, paid through WeChat.
    let a = p.pay(0, &payment).await;
    assert_eq!(a["status"], "PAID");
    assert_eq!(a["order"]["status"], "COMPLETED");
    assert_eq!(a["order"]["amount"], "1000.00");
    let b_payment = p.create(1, "1000.00", 0).await;
    let b = p.pay(1, &b_payment).await;
    let rewards = &b["order"]["rewards"];
    let queue_share: Vec<&Value> = rewards
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "QUEUE_SHARE")
        .collect();
    assert_eq!(queue_share.len(), 1, "{rewards}");
    assert_eq!(queue_share[0]["amount"], "1000.00");
    assert_eq!(queue_share[0]["beneficiary"]["id"], p.shopper(0).1);
    let stats =
        p.t.ok(
            Some(&p.shop.merchant.owner_token),
            "query($m: ID!) { merchant(id: $m) { queueStats { pool } } }",
            json!({ "m": p.shop.merchant.id }),
        )
        .await;
    assert_eq!(stats["merchant"]["queueStats"]["pool"], "200.00");
    let wallet = p.t.wallet(p.shopper(0).0, &p.shop.merchant.id).await;
    assert_eq!(wallet["cash"], "1000.00");
    assert_eq!(p.clearing().await, "2000.00");
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_replayed_notification_changes_nothing_even_ten_at_once() {
    let p = pay_shop(1).await;
    let payment = p.create(0, "88.00", 0).await;
    let out_trade_no = payment["outTradeNo"].as_str().unwrap().to_owned();
    p.standin.pay(&out_trade_no);
    let n = p
        .standin
        .transaction_notification(&out_trade_no)
        .with_timestamp(p.t.clock.now().timestamp());
    let deliveries = (0..10).map(|_| p.deliver_as_is(&n));
    for (status, body) in futures::future::join_all(deliveries).await {
        assert_eq!(status, 204, "{body}");
    }
    let transactions = p.t.count("ledger_transactions").await;
    let (status, _) = p.deliver(&n).await;
    assert_eq!(status, 204);
    assert_eq!(p.t.count("orders").await, 1);
    assert_eq!(p.t.count("ledger_transactions").await, transactions);
    assert_eq!(p.clearing().await, "88.00");
    p.t.assert_audit_clean().await;
}

/// The notification's resource re-encrypted after `change`, re-signed by WeChat's key: a
/// genuine-looking notification whose content does not match the payment.
fn altered(p: &Pay, n: &SignedNotification, change: impl FnOnce(&mut Value)) -> SignedNotification {
    let key = p.standin.config().api_v3_key;
    let notification: Notification = serde_json::from_str(&n.body).unwrap();
    let transaction: Transaction = notification.decrypt(&key).unwrap();
    let mut plain = serde_json::to_value(&transaction).unwrap();
    change(&mut plain);
    let mut body: Value = serde_json::from_str(&n.body).unwrap();
    let resource = &notification.resource;
    body["resource"]["ciphertext"] = json!(wechatpay::encrypt_resource(
        &key,
        &resource.nonce,
        resource.associated_data.as_deref().unwrap_or_default(),
        plain.to_string().as_bytes(),
    )
    .unwrap());
    n.with_body(body.to_string())
}

#[tokio::test]
async fn bad_notifications_are_refused_and_write_nothing() {
    let p = pay_shop(1).await;
    let payment = p.create(0, "50.00", 0).await;
    let out_trade_no = payment["outTradeNo"].as_str().unwrap().to_owned();
    p.standin.pay(&out_trade_no);
    let good = p
        .standin
        .transaction_notification(&out_trade_no)
        .with_timestamp(p.t.clock.now().timestamp());
    let before = p.t.count("ledger_transactions").await;
    let other_key = wechatpay::parse_private_key(test_keys::MERCHANT_PRIVATE_KEY_PEM).unwrap();
    let cases = [
        (
            "a tampered signature",
            good.with_signature("AAAA".repeat(86)),
            401,
        ),
        (
            "the body changed after signing",
            {
                let mut changed = good.clone();
                changed.body = changed
                    .body
                    .replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS ");
                changed
            },
            401,
        ),
        ("signed by another key", good.signed_by(&other_key), 401),
        (
            "an unknown serial",
            good.with_serial("PUB_KEY_ID_0000000000000000000000000000"),
            400,
        ),
        (
            "a timestamp 6 minutes old",
            good.with_timestamp((p.t.clock.now() - Duration::minutes(6)).timestamp()),
            400,
        ),
        (
            "another amount",
            altered(&p, &good, |t| t["amount"]["total"] = json!(4999)),
            400,
        ),
        (
            "another mchid",
            altered(&p, &good, |t| t["mchid"] = json!("1900000001")),
            400,
        ),
        (
            "another appid",
            altered(&p, &good, |t| t["appid"] = json!("wx0000000000000000")),
            400,
        ),
        (
            "another merchant's order",
            altered(&p, &good, |t| {
                t["out_trade_no"] = json!("FH20260301000000nosuchorder")
            }),
            404,
        ),
    ];
    for (what, notification, expected) in cases {
        let (status, body) = p.deliver_as_is(&notification).await;
        assert_eq!(status, expected, "{what}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["code"], "FAIL", "{what}");
        assert!(answer["message"].is_string(), "{what}");
        assert_eq!(p.t.count("orders").await, 0, "{what}");
        assert_eq!(p.t.count("ledger_transactions").await, before, "{what}");
    }
    // The genuine one still applies.
    let (status, body) = p.deliver_as_is(&good).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(p.t.count("orders").await, 1);
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn a_lost_notification_is_found_by_the_lookup_a_minute_later() {
    let p = pay_shop(1).await;
    let payment = p.create(0, "66.00", 0).await;
    p.standin.pay(payment["outTradeNo"].as_str().unwrap());
    // Too early: the notification may still come.
    assert_eq!(p.sweep().await, Default::default());
    p.t.clock.advance(Duration::seconds(61));
    let report = p.sweep().await;
    assert_eq!(report.paid, 1, "{report:?}");
    let read = p.read(0, &payment).await;
    assert_eq!(read["status"], "PAID");
    assert_eq!(read["order"]["status"], "COMPLETED");
    // The notification arriving after all changes nothing.
    let late = p
        .standin
        .transaction_notification(payment["outTradeNo"].as_str().unwrap());
    assert_eq!(p.deliver(&late).await.0, 204);
    assert_eq!(p.t.count("orders").await, 1);
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn held_points_cannot_be_spent_twice_and_an_unpaid_payment_releases_them() {
    let p = pay_shop(1).await;
    // 200.00 at the till earns 10 points (5 per 100).
    let (token, user_id) = (p.shopper(0).0.to_owned(), p.shopper(0).1.to_owned());
    let till = p.t.order(&p.shop, &user_id, "200.00", json!({})).await;
    assert!(till.get("errors").is_none(), "{till}");
    assert_eq!(p.t.wallet(&token, &p.shop.merchant.id).await["points"], 10);

    let payment = p.create(0, "30.00", 10).await;
    assert_eq!(payment["cashAmount"], "20.00");
    assert_eq!(payment["pointsUsed"], 10);
    let wallet = p.t.wallet(&token, &p.shop.merchant.id).await;
    assert_eq!(wallet["points"], 0);
    let held =
        p.t.ok(
            Some(&token),
            "query($m: ID!) { membership(merchantId: $m) { wallet { pointsOnHold } } }",
            json!({ "m": p.shop.merchant.id }),
        )
        .await;
    assert_eq!(held["membership"]["wallet"]["pointsOnHold"], 10);

    // Neither the till nor a second payment can spend them again.
    let at_till =
        p.t.order(&p.shop, &user_id, "30.00", json!({ "pointsToUse": 10 }))
            .await;
    assert_eq!(error_code(&at_till), "INSUFFICIENT_FUNDS", "{at_till}");
    let again = p
        .t
        .gql(
            Some(&token),
            CREATE,
            json!({ "i": { "storeId": p.shop.merchant.store_id, "amount": "30.00", "pointsToUse": 10 } }),
        )
        .await;
    assert_eq!(error_code(&again), "INSUFFICIENT_FUNDS", "{again}");

    // Unpaid for 30 minutes: closed at WeChat and here, the points back.
    p.t.clock.advance(Duration::minutes(29));
    assert_eq!(p.sweep().await.closed, 0);
    p.t.clock.advance(Duration::minutes(2));
    let report = p.sweep().await;
    assert_eq!(report.closed, 1, "{report:?}");
    let out_trade_no = payment["outTradeNo"].as_str().unwrap();
    assert_eq!(
        p.standin.transaction(out_trade_no).unwrap().trade_state,
        "CLOSED"
    );
    assert_eq!(p.read(0, &payment).await["status"], "CLOSED");
    assert_eq!(p.t.wallet(&token, &p.shop.merchant.id).await["points"], 10);
    p.t.assert_audit_clean().await;

    // Paid with the points this time: the order uses them and they are gone for good.
    let payment = p.create(0, "30.00", 10).await;
    let paid = p.pay(0, &payment).await;
    assert_eq!(paid["order"]["pointsUsed"], 10);
    assert_eq!(paid["order"]["cashPaid"], "20.00");
    assert_eq!(p.t.wallet(&token, &p.shop.merchant.id).await["points"], 1); // 20.00 earned 1
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn partial_then_full_refunds_through_wechat_and_a_completed_order_is_final() {
    let p = pay_shop(1).await;
    // This store completes later (autoCompleteDays), so the order stays PAID.
    p.t.ok(
        Some(&p.shop.merchant.owner_token),
        "mutation($s: ID!) { updateStore(storeId: $s, input: { completeOnPayment: false }) { completeOnPayment } }",
        json!({ "s": p.shop.merchant.store_id }),
    )
    .await;
    let created = p.create(0, "100.00", 0).await;
    let paid = p.pay(0, &created).await;
    let order_id = paid["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(paid["order"]["status"], "PAID");

    let first =
        p.t.ok(
            Some(&p.shop.cashier),
            REFUND,
            json!({ "o": order_id, "a": "30.00", "r": "少了一杯" }),
        )
        .await["refundOrder"]
            .clone();
    assert_eq!(first["status"], "PAID");
    assert_eq!(first["refunds"][0]["status"], "PROCESSING");
    assert_eq!(first["refunds"][0]["amount"], "30.00");
    let sent = p
        .standin
        .requests()
        .into_iter()
        .find(|r| r.path == "/v3/refund/domestic/refunds")
        .expect("a refund request");
    assert!(sent.signature_valid);
    let sent: Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        sent["amount"],
        json!({ "refund": 3000, "total": 10000, "currency": "CNY" })
    );

    // While the refund is processing the order neither completes nor refunds more than is left.
    let complete =
        p.t.gql(
            Some(&p.shop.cashier),
            "mutation($o: ID!) { completeOrder(orderId: $o) { status } }",
            json!({ "o": order_id }),
        )
        .await;
    assert_eq!(error_code(&complete), "CONFLICT", "{complete}");
    let too_much =
        p.t.gql(
            Some(&p.shop.cashier),
            REFUND,
            json!({ "o": order_id, "a": "70.01" }),
        )
        .await;
    assert_eq!(error_code(&too_much), "INVALID_INPUT", "{too_much}");

    let out_refund_no = sent["out_refund_no"].as_str().unwrap();
    p.standin.refund_settles(out_refund_no, "SUCCESS");
    let n = p.standin.refund_notification(out_refund_no);
    assert_eq!(p.deliver(&n).await.0, 204);
    assert_eq!(p.deliver(&n).await.0, 204); // replayed: nothing more
    assert_eq!(p.clearing().await, "70.00");
    p.t.assert_audit_clean().await;

    // The rest, found by the lookup instead of a notification.
    let second =
        p.t.ok(Some(&p.shop.cashier), REFUND, json!({ "o": order_id }))
            .await["refundOrder"]
            .clone();
    assert_eq!(second["refundedAmount"], "30.00");
    assert_eq!(second["refunds"][1]["amount"], "70.00");
    let second_no = p
        .standin
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v3/refund/domestic/refunds")
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["out_refund_no"].clone())
        .unwrap();
    p.standin
        .refund_settles(second_no.as_str().unwrap(), "SUCCESS");
    p.t.clock.advance(Duration::seconds(61));
    assert_eq!(p.sweep().await.refunds_settled, 1);
    let read = p.read(0, &created).await;
    assert_eq!(read["order"]["status"], "REFUNDED");
    assert_eq!(read["order"]["refundedAmount"], "100.00");
    assert_eq!(p.clearing().await, "0.00");
    p.t.assert_audit_clean().await;

    // A completed order is final: no refund request reaches WeChat.
    p.t.ok(
        Some(&p.shop.merchant.owner_token),
        "mutation($s: ID!) { updateStore(storeId: $s, input: { completeOnPayment: true }) { completeOnPayment } }",
        json!({ "s": p.shop.merchant.store_id }),
    )
    .await;
    let done = p.pay(0, &p.create(0, "40.00", 0).await).await;
    assert_eq!(done["order"]["status"], "COMPLETED");
    let requests = p.standin.requests().len();
    let refused =
        p.t.gql(
            Some(&p.shop.cashier),
            REFUND,
            json!({ "o": done["order"]["id"] }),
        )
        .await;
    assert_eq!(error_code(&refused), "CONFLICT", "{refused}");
    assert_eq!(p.standin.requests().len(), requests);
}

#[tokio::test]
async fn rewards_are_computed_on_what_is_left_after_refunds() {
    let p = pay_shop(1).await;
    p.t.ok(
        Some(&p.shop.merchant.owner_token),
        "mutation($s: ID!) { updateStore(storeId: $s, input: { completeOnPayment: false }) { completeOnPayment } }",
        json!({ "s": p.shop.merchant.store_id }),
    )
    .await;
    let paid = p.pay(0, &p.create(0, "100.00", 0).await).await;
    let order_id = paid["order"]["id"].as_str().unwrap().to_owned();
    p.t.ok(
        Some(&p.shop.cashier),
        REFUND,
        json!({ "o": order_id, "a": "40.00" }),
    )
    .await;
    let out_refund_no = p
        .standin
        .requests()
        .into_iter()
        .find(|r| r.path == "/v3/refund/domestic/refunds")
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["out_refund_no"].clone())
        .unwrap();
    p.standin
        .refund_settles(out_refund_no.as_str().unwrap(), "SUCCESS");
    assert_eq!(
        p.deliver(
            &p.standin
                .refund_notification(out_refund_no.as_str().unwrap())
        )
        .await
        .0,
        204
    );
    let completed = p
        .t
        .ok(
            Some(&p.shop.cashier),
            "mutation($o: ID!) { completeOrder(orderId: $o) { status rewards { kind amount } queueEntry { target } } }",
            json!({ "o": order_id }),
        )
        .await["completeOrder"]
        .clone();
    assert_eq!(completed["status"], "COMPLETED");
    // 60.00 left: 3 rebate points (5 per 100, floored), a queue target of 60.00.
    assert_eq!(completed["queueEntry"]["target"], "60.00");
    let points: Vec<&Value> = completed["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "REBATE_POINTS")
        .collect();
    assert_eq!(points[0]["amount"], "3");
    p.t.assert_audit_clean().await;
}

#[tokio::test]
async fn configuring_wechat_pay_checks_every_key_and_keeps_secrets_sealed() {
    let standin = StandIn::start(StandInConfig::for_tests()).await;
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Keys café").await;
    let cashier = t.staff(&m, "CASHIER").await;
    const CONFIGURE: &str = "mutation($m: ID!, $i: WechatPayInput!) { configureWechatPay(merchantId: $m, input: $i) { connected } }";
    let good = wechat_pay_input(&standin);
    let by_cashier = t
        .gql(Some(&cashier), CONFIGURE, json!({ "m": m.id, "i": good }))
        .await;
    assert_eq!(error_code(&by_cashier), "FORBIDDEN");
    for (field, bad) in [
        (
            "privateKeyPem",
            "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
        ),
        ("platformPublicKeyPem", "not a key"),
        ("apiV3Key", "short"),
        ("mchid", "12ab"),
        ("merchantSerialNo", "not hex!"),
    ] {
        let mut input = good.clone();
        input[field] = json!(bad);
        let response = t
            .gql(
                Some(&m.owner_token),
                CONFIGURE,
                json!({ "m": m.id, "i": input }),
            )
            .await;
        assert_eq!(
            error_code(&response),
            "INVALID_INPUT",
            "{field}: {response}"
        );
        assert!(
            response["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(field),
            "{field}: {response}"
        );
    }
    assert_eq!(t.count("wechat_pay_accounts").await, 0);
    t.ok(
        Some(&m.owner_token),
        CONFIGURE,
        json!({ "m": m.id, "i": good }),
    )
    .await;
    let stored = {
        use sea_orm::EntityTrait;
        entity::wechat_pay_account::Entity::find_by_id(m.id.parse::<i64>().unwrap())
            .one(&t.app.state.db)
            .await
            .unwrap()
            .unwrap()
    };
    assert!(!stored.private_key_sealed.contains("PRIVATE KEY"));
    assert!(!stored
        .api_v3_key_sealed
        .contains(good["apiV3Key"].as_str().unwrap()));
    let status = t
        .ok(
            Some(&m.owner_token),
            "query($m: ID!) { merchant(id: $m) { wechatPay { mchid connected platformPublicKeyId } } }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(status["merchant"]["wechatPay"]["connected"], true);
    assert_eq!(status["merchant"]["wechatPay"]["mchid"], "1230000109");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merchant_feed_and_the_shoppers_wallet_see_a_payment_as_they_see_the_till() {
    let p = pay_shop(1).await;
    let address = p.t.serve().await;
    let (mut owner, _) = WsClient::connect(address, &p.shop.merchant.owner_token).await;
    owner
        .subscribe(
            "feed",
            "subscription($m: ID!) { merchantFeed(merchantId: $m) { kind amount userId orderId } }",
            json!({ "m": p.shop.merchant.id }),
        )
        .await;
    let (mut shopper, _) = WsClient::connect(address, p.shopper(0).0).await;
    shopper
        .subscribe(
            "w",
            "subscription($m: ID!) { walletUpdated(merchantId: $m) { cash points } }",
            json!({ "m": p.shop.merchant.id }),
        )
        .await;
    let first = shopper.next().await;
    assert_eq!(first["payload"]["data"]["walletUpdated"]["points"], 0);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Completed at once (in store): the feed shows the completion, the wallet the points.
    let paid = p.pay(0, &p.create(0, "300.00", 0).await).await;
    let event = owner.next().await;
    assert_eq!(
        event["payload"]["data"]["merchantFeed"],
        json!({ "kind": "ORDER_COMPLETED", "amount": "300.00", "userId": p.shopper(0).1, "orderId": paid["order"]["id"] })
    );
    let update = shopper.next().await;
    assert_eq!(update["payload"]["data"]["walletUpdated"]["points"], 15);

    // A store that completes later: the feed shows the order paid.
    p.t.ok(
        Some(&p.shop.merchant.owner_token),
        "mutation($s: ID!) { updateStore(storeId: $s, input: { completeOnPayment: false }) { completeOnPayment } }",
        json!({ "s": p.shop.merchant.store_id }),
    )
    .await;
    let later = p.pay(0, &p.create(0, "20.00", 0).await).await;
    let event = owner.next().await;
    assert_eq!(
        event["payload"]["data"]["merchantFeed"],
        json!({ "kind": "ORDER_PAID", "amount": "20.00", "userId": p.shopper(0).1, "orderId": later["order"]["id"] })
    );
}
