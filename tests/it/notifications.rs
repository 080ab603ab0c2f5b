//! Subscribe messages against a stand-in of WeChat's server API (`stable_token`,
//! `subscribe/send` with WeChat's value limits and errcodes): each event sends exactly one
//! message, only when granted, formatted to the template's types; quotas count down; 43101,
//! system errors and expired tokens; no duplicate after a restart or with two instances.

use chrono::Duration;
use fenhong::{clock::Clock, services::notifications};
use serde_json::{json, Value};
use wechatpay::standin::server::ServerStandIn;

use crate::{helpers::*, queue::queue_rules};

const APPID: &str = "wx0123456789abcdef";
const SECRET: &str = "app-secret";

const TEMPLATES: &str = "mutation($i: [NotificationTemplateInput!]!) { configureNotifications(input: $i) { event templateId } }";
const GRANTS: &str = "mutation($r: [SubscribeGrantInput!]!) { recordSubscribeGrants(results: $r) { event templateId remaining } }";

struct Notify {
    t: TestApp,
    server: ServerStandIn,
}

/// A platform with WeChat configured against the stand-in and templates for the queue,
/// reward and expiry events.
async fn platform() -> Notify {
    let server = ServerStandIn::start(APPID, SECRET).await;
    for (id, keys) in [
        ("tmpl-active", &["thing1", "number2", "amount3"][..]),
        ("tmpl-done", &["thing1", "amount2"][..]),
        ("tmpl-reward", &["thing1", "amount2"][..]),
        ("tmpl-expiring", &["thing1", "number2", "time3"][..]),
    ] {
        server.add_template(id, keys);
    }
    let base = server.base_url();
    let t = TestApp::with_config(|c| {
        c.wechat = Some(fenhong::config::WechatConfig {
            appid: APPID.into(),
            secret: SECRET.into(),
            api_base: base,
        })
    })
    .await;
    let admin = t.admin_token().await;
    t.ok(
        Some(&admin),
        TEMPLATES,
        json!({ "i": [
            { "event": "QUEUE_ACTIVE", "templateId": "tmpl-active", "page": "pages/queue/index",
              "fields": [{ "key": "thing1", "value": "{merchant}的免单名额" }, { "key": "number2", "value": "{position}" }, { "key": "amount3", "value": "{target}" }] },
            { "event": "QUEUE_COMPLETED", "templateId": "tmpl-done", "page": "pages/queue/index",
              "fields": [{ "key": "thing1", "value": "{merchant}" }, { "key": "amount2", "value": "{received}" }] },
            { "event": "REWARD_CREDITED", "templateId": "tmpl-reward", "page": "pages/wallet/index",
              "fields": [{ "key": "thing1", "value": "{merchant}" }, { "key": "amount2", "value": "{amount}" }] },
            { "event": "POINTS_EXPIRING", "templateId": "tmpl-expiring", "page": "pages/wallet/index",
              "fields": [{ "key": "thing1", "value": "{merchant}" }, { "key": "number2", "value": "{points}" }, { "key": "time3", "value": "{expiresAt}" }] },
        ] }),
    )
    .await;
    Notify { t, server }
}

impl Notify {
    /// A shopper who accepted `templates` once each (at WeChat and told the server).
    async fn shopper(&self, code: &str, templates: &[&str]) -> (String, String) {
        let (token, id) = self.t.shopper(code).await;
        let results: Vec<Value> = templates
            .iter()
            .map(|t| json!({ "templateId": t, "accepted": true }))
            .collect();
        if !results.is_empty() {
            self.t
                .ok(Some(&token), GRANTS, json!({ "r": results }))
                .await;
        }
        for t in templates {
            self.server.grant(&format!("o-{code}"), t, 1);
        }
        (token, id)
    }

    async fn round(&self) -> notifications::SendReport {
        notifications::run_once(&self.t.app.state, self.t.clock.now())
            .await
            .expect("a round")
    }

    fn sent_to(&self, code: &str) -> Vec<(String, Value)> {
        self.server
            .sent()
            .into_iter()
            .filter(|m| m.touser == format!("o-{code}"))
            .map(|m| (m.template_id, m.data))
            .collect()
    }
}

/// A merchant whose name is longer than a `thing` field, with the queue program (N = 3).
async fn queue_merchant(n: &Notify) -> (Merchant, String) {
    let m =
        n.t.merchant_with_store("分红咖啡西湖旗舰店第一分店测试专用长名字")
            .await;
    n.t.configure(&m, json!({ "queue": queue_rules() })).await;
    let cashier = n.t.staff(&m, "CASHIER").await;
    (m, cashier)
}

async fn buy(n: &Notify, m: &Merchant, cashier: &str, user: &str, amount: &str) {
    let data = n
        .t
        .ok(
            Some(cashier),
            "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { id } }",
            json!({ "i": { "storeId": m.store_id, "userId": user, "amount": amount, "idempotencyKey": unique("k"), "complete": true } }),
        )
        .await;
    assert!(data["recordOrder"]["id"].is_string());
}

#[tokio::test]
async fn she_is_told_once_when_she_enters_the_slots_and_when_she_is_paid_back() {
    let n = platform().await;
    let (m, cashier) = queue_merchant(&n).await;
    let (a_token, a) = n
        .shopper("alice", &["tmpl-active", "tmpl-done", "tmpl-reward"])
        .await;
    n.t.join(&a_token, &m.store_scene).await;
    let (b_token, b) = n.shopper("bob", &[]).await; // granted nothing
    n.t.join(&b_token, &m.store_scene).await;

    // RULES.md: a (A 1000) enters an empty queue: active at once.
    buy(&n, &m, &cashier, &a, "1000.00").await;
    let report = n.round().await;
    assert_eq!(report.sent, 1, "{report:?}");
    let to_alice = n.sent_to("alice");
    assert_eq!(to_alice.len(), 1);
    assert_eq!(to_alice[0].0, "tmpl-active");
    assert_eq!(
        to_alice[0].1,
        json!({
            "thing1": { "value": "分红咖啡西湖旗舰店第一分店测试专用长名字的免单名额".chars().take(20).collect::<String>() },
            "number2": { "value": "1" },
            "amount3": { "value": "¥1000.00" },
        })
    );
    let message = &n.server.sent()[0];
    assert_eq!(message.page.as_deref(), Some("pages/queue/index"));

    // b (B 1000): A is paid back 1000.00 and completes; B becomes active but granted nothing.
    buy(&n, &m, &cashier, &b, "1000.00").await;
    let report = n.round().await;
    assert_eq!((report.sent, report.skipped), (2, 1), "{report:?}");
    let templates: Vec<String> = n.sent_to("alice").into_iter().map(|(t, _)| t).collect();
    assert_eq!(templates, ["tmpl-active", "tmpl-done", "tmpl-reward"]);
    let done = &n.sent_to("alice")[1].1;
    assert_eq!(done["amount2"]["value"], "¥1000.00");
    assert!(n.sent_to("bob").is_empty());

    // Her quota is used up; nothing is sent twice however often the sender runs.
    let quota =
        n.t.ok(
            Some(&a_token),
            "{ me { notificationQuota { event remaining } } }",
            json!({}),
        )
        .await;
    for q in quota["me"]["notificationQuota"].as_array().unwrap() {
        assert_eq!(q["remaining"], 0, "{quota}");
    }
    assert_eq!(n.round().await, Default::default());
    let again = n.t.restarted(|_| {}).await;
    notifications::run_once(&again.app.state, n.t.clock.now())
        .await
        .unwrap();
    assert_eq!(n.server.sent().len(), 3);
}

#[tokio::test]
async fn system_errors_and_expired_tokens_are_retried() {
    let n = platform().await;
    let (m, cashier) = queue_merchant(&n).await;
    // A system error: tried again after a pause, then sent.
    let (e_token, e) = n.shopper("erin", &["tmpl-active"]).await;
    n.t.join(&e_token, &m.store_scene).await;
    n.server.fail_sends(1);
    buy(&n, &m, &cashier, &e, "100.00").await;
    let report = n.round().await;
    assert_eq!(report.retried, 1, "{report:?}");
    assert!(n.sent_to("erin").is_empty());
    assert_eq!(n.round().await.sent, 0, "not before the pause");
    n.t.clock.advance(Duration::seconds(11));
    assert_eq!(n.round().await.sent, 1);
    assert_eq!(n.sent_to("erin").len(), 1);

    // An expired token is refreshed and the message sent.
    let (f_token, f) = n.shopper("frank", &["tmpl-active"]).await;
    n.t.join(&f_token, &m.store_scene).await;
    n.server.expire_token();
    buy(&n, &m, &cashier, &f, "100.00").await;
    assert_eq!(n.round().await.sent, 1);
    assert_eq!(n.sent_to("frank").len(), 1);
    let (_, forced) = n.server.token_requests();
    assert!(forced >= 1);
}

#[tokio::test]
async fn a_refused_message_zeroes_what_the_server_thought_was_left() {
    let n = platform().await;
    let (m, cashier) = queue_merchant(&n).await;
    let (token, a) = n.t.shopper("gina").await;
    n.t.join(&token, &m.store_scene).await;
    // Told the server twice, WeChat never: WeChat refuses (43101).
    for _ in 0..2 {
        n.t.ok(
            Some(&token),
            GRANTS,
            json!({ "r": [{ "templateId": "tmpl-active", "accepted": true }, { "templateId": "tmpl-done", "accepted": false }] }),
        )
        .await;
    }
    let quota =
        n.t.ok(
            Some(&token),
            "{ me { notificationQuota { event templateId remaining } } }",
            json!({}),
        )
        .await;
    let active = quota["me"]["notificationQuota"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["event"] == "QUEUE_ACTIVE")
        .unwrap()
        .clone();
    assert_eq!(active["remaining"], 2);
    buy(&n, &m, &cashier, &a, "100.00").await;
    let report = n.round().await;
    assert_eq!(report.refused, 1, "{report:?}");
    assert!(n.sent_to("gina").is_empty());
    let quota =
        n.t.ok(
            Some(&token),
            "{ me { notificationQuota { event remaining } } }",
            json!({}),
        )
        .await;
    let active = quota["me"]["notificationQuota"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["event"] == "QUEUE_ACTIVE")
        .unwrap()
        .clone();
    assert_eq!(active["remaining"], 0);

    // Unknown template ids are refused and change nothing.
    let unknown = n
        .t
        .gql(
            Some(&token),
            GRANTS,
            json!({ "r": [{ "templateId": "tmpl-active", "accepted": true }, { "templateId": "nope", "accepted": true }] }),
        )
        .await;
    assert_eq!(error_code(&unknown), "INVALID_INPUT", "{unknown}");
    let quota =
        n.t.ok(
            Some(&token),
            "{ me { notificationQuota { event remaining } } }",
            json!({}),
        )
        .await;
    assert!(quota["me"]["notificationQuota"]
        .as_array()
        .unwrap()
        .iter()
        .all(|q| q["remaining"] == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sending_at_once_send_each_message_once() {
    let n = platform().await;
    let (m, cashier) = queue_merchant(&n).await;
    let mut shoppers = Vec::new();
    for i in 0..3 {
        let code = format!("twin{i}");
        let (token, id) = n.shopper(&code, &["tmpl-active"]).await;
        n.t.join(&token, &m.store_scene).await;
        shoppers.push(id);
    }
    for id in &shoppers {
        buy(&n, &m, &cashier, id, "100.00").await;
    }
    let other = n.t.second_instance().await;
    let now = n.t.clock.now();
    let (one, two) = tokio::join!(
        notifications::run_once(&n.t.app.state, now),
        notifications::run_once(&other.state, now),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.sent + two.sent, 3, "{one:?} {two:?}");
    assert_eq!(n.server.sent().len(), 3);
    for i in 0..3 {
        assert_eq!(n.sent_to(&format!("twin{i}")).len(), 1);
    }
}

#[tokio::test]
async fn points_about_to_expire_are_announced_three_days_before_once() {
    let n = platform().await;
    let shop = n.t.shop(0).await; // rebate: 5 points per 100, for a year
    let (token, id) = n.shopper("hana", &["tmpl-expiring"]).await;
    n.t.join(&token, &shop.merchant.store_scene).await;
    let order = n.t.order(&shop, &id, "300.00", json!({})).await;
    assert!(order.get("errors").is_none(), "{order}");
    let db = &n.t.app.state.db;
    assert_eq!(
        notifications::plan_expiring(db, n.t.clock.now())
            .await
            .unwrap(),
        0
    );
    // Two days before the lot expires (it expires a year after 2026-03-01 09:00 UTC).
    n.t.clock.advance(Duration::days(365) - Duration::days(2));
    assert_eq!(
        notifications::plan_expiring(db, n.t.clock.now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        notifications::plan_expiring(db, n.t.clock.now())
            .await
            .unwrap(),
        0
    );
    assert_eq!(n.round().await.sent, 1);
    let sent = n.sent_to("hana");
    assert_eq!(sent[0].0, "tmpl-expiring");
    assert_eq!(sent[0].1["number2"]["value"], "15");
    // Shown in China time: 2027-03-01 09:00 UTC is 17:00 there.
    assert_eq!(sent[0].1["time3"]["value"], "2027-03-01 17:00");
}

#[tokio::test]
async fn templates_take_only_their_events_variables_and_only_the_platform_sets_them() {
    let n = platform().await;
    let admin = n.t.admin_token().await;
    let bad =
        n.t.gql(
            Some(&admin),
            TEMPLATES,
            json!({ "i": [{ "event": "POINTS_EXPIRING", "templateId": "x", "page": "pages/a/b",
                "fields": [{ "key": "thing1", "value": "{position}" }] }] }),
        )
        .await;
    assert_eq!(error_code(&bad), "INVALID_INPUT", "{bad}");
    let (token, _) = n.t.shopper("ivan").await;
    let forbidden = n.t.gql(Some(&token), TEMPLATES, json!({ "i": [] })).await;
    assert_eq!(error_code(&forbidden), "FORBIDDEN");
    let listed =
        n.t.ok(
            Some(&token),
            "{ notificationTemplates { event templateId page } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["notificationTemplates"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn a_paid_or_failed_withdrawal_is_announced_once() {
    use wechatpay::standin::{StandIn, StandInConfig};
    let server = ServerStandIn::start(APPID, SECRET).await;
    server.add_template("tmpl-paid", &["thing1", "amount2"]);
    server.add_template("tmpl-failed", &["thing1", "amount2"]);
    let mut pay_config = StandInConfig::for_tests();
    pay_config.appid = APPID.into();
    let pay = StandIn::start(pay_config).await;
    let (api_base, pay_base) = (server.base_url(), pay.base_url());
    let t = TestApp::with_config(|c| {
        c.wechat = Some(fenhong::config::WechatConfig {
            appid: APPID.into(),
            secret: SECRET.into(),
            api_base,
        });
        c.wechatpay_api_base = pay_base;
    })
    .await;
    let admin = t.admin_token().await;
    t.ok(
        Some(&admin),
        TEMPLATES,
        json!({ "i": [
            { "event": "WITHDRAWAL_PAID", "templateId": "tmpl-paid", "page": "pages/wallet/index",
              "fields": [{ "key": "thing1", "value": "{merchant}提现到账" }, { "key": "amount2", "value": "{amount}" }] },
            { "event": "WITHDRAWAL_FAILED", "templateId": "tmpl-failed", "page": "pages/wallet/index",
              "fields": [{ "key": "thing1", "value": "{merchant}提现退回" }, { "key": "amount2", "value": "{amount}" }] },
        ] }),
    )
    .await;
    let m = t.merchant_with_store("茶社").await;
    let c = pay.config();
    t.ok(
        Some(&m.owner_token),
        "mutation($m: ID!, $i: WechatPayInput!) { configureWechatPay(merchantId: $m, input: $i) { connected } }",
        json!({ "m": m.id, "i": {
            "mchid": c.mchid, "merchantSerialNo": c.merchant_serial_no,
            "privateKeyPem": wechatpay::test_keys::MERCHANT_PRIVATE_KEY_PEM,
            "apiV3Key": String::from_utf8(c.api_v3_key.to_vec()).unwrap(),
            "platformPublicKeyId": c.platform_public_key_id,
            "platformPublicKeyPem": wechatpay::test_keys::PLATFORM_PUBLIC_KEY_PEM,
        } }),
    )
    .await;
    let (token, user) = t.shopper("jade").await;
    t.join(&token, &m.store_scene).await;
    t.ok(
        Some(&token),
        GRANTS,
        json!({ "r": [{ "templateId": "tmpl-paid", "accepted": true }, { "templateId": "tmpl-failed", "accepted": true }] }),
    )
    .await;
    server.grant("o-jade", "tmpl-paid", 1);
    server.grant("o-jade", "tmpl-failed", 1);
    t.credit_cash(&m.id, &user, "100.00").await;
    let mut ids = Vec::new();
    for amount in ["30.00", "20.00"] {
        let data = t
            .ok(
                Some(&token),
                "mutation($m: ID!, $a: Decimal!) { requestWithdrawal(merchantId: $m, amount: $a) { id } }",
                json!({ "m": m.id, "a": amount }),
            )
            .await;
        let id = data["requestWithdrawal"]["id"].as_str().unwrap().to_owned();
        t.ok(
            Some(&m.owner_token),
            "mutation($w: ID!) { reviewWithdrawal(withdrawalId: $w, approve: true) { status } }",
            json!({ "w": id }),
        )
        .await;
        ids.push(id);
    }
    let bill = |id: &str| fenhong::services::transfers::out_bill_no(id.parse().unwrap());
    pay.confirm_transfer(&bill(&ids[0]));
    pay.transfer_ends(&bill(&ids[1]), "FAIL");
    t.clock.advance(Duration::seconds(61));
    fenhong::services::transfers::sweep(&t.app.state, t.clock.now())
        .await
        .unwrap();
    let report = notifications::run_once(&t.app.state, t.clock.now())
        .await
        .unwrap();
    assert_eq!(report.sent, 2, "{report:?}");
    notifications::run_once(&t.app.state, t.clock.now())
        .await
        .unwrap();
    let sent = server.sent();
    assert_eq!(sent.len(), 2);
    let by_template: std::collections::HashMap<String, Value> =
        sent.into_iter().map(|m| (m.template_id, m.data)).collect();
    assert_eq!(
        by_template["tmpl-paid"],
        json!({ "thing1": { "value": "茶社提现到账" }, "amount2": { "value": "¥30.00" } })
    );
    assert_eq!(by_template["tmpl-failed"]["amount2"]["value"], "¥20.00");
}
