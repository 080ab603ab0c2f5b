//! The server-API stand-in answers as `api.weixin.qq.com` does: access tokens, subscribe
//! messages with their grants and value rules, and `jscode2session`.

use serde_json::{json, Value};
use wechatpay::standin::server::{SentMessage, ServerStandIn};

const APPID: &str = "wx1234567890abcdef";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const TEMPLATE: &str = "tpl-order-shipped";

struct Client {
    standin: ServerStandIn,
    http: reqwest::Client,
}

impl Client {
    async fn start() -> Client {
        let standin = ServerStandIn::start(APPID, SECRET).await;
        standin.add_template(
            TEMPLATE,
            &["character_string1", "thing2", "amount3", "time4", "phrase5"],
        );
        Client {
            standin,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let text = self
            .http
            .post(format!("{}{path}", self.standin.base_url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    async fn token_with(&self, appid: &str, secret: &str, force: bool) -> Value {
        let body = json!({"grant_type": "client_credential", "appid": appid, "secret": secret,
            "force_refresh": force});
        self.post("/cgi-bin/stable_token", body).await
    }

    async fn token(&self) -> String {
        let answer = self.token_with(APPID, SECRET, false).await;
        assert_eq!(answer["expires_in"], 7200, "{answer}");
        answer["access_token"].as_str().unwrap().to_string()
    }

    async fn send_with(&self, token: &str, body: Value) -> Value {
        let path = format!("/cgi-bin/message/subscribe/send?access_token={token}");
        self.post(&path, body).await
    }

    async fn send(&self, token: &str, data: Value) -> Value {
        let body = json!({"touser": "o-alice", "template_id": TEMPLATE, "page": "pages/order?id=7",
            "data": data, "miniprogram_state": "trial", "lang": "zh_CN"});
        self.send_with(token, body).await
    }
}

fn good_data() -> Value {
    json!({
        "character_string1": {"value": "FH20261124-0001"},
        "thing2": {"value": "分红订单已发货，请留意查收"},
        "amount3": {"value": "¥128.50"},
        "time4": {"value": "2026-11-24 08:30"},
        "phrase5": {"value": "配送中"},
    })
}

fn with(key: &str, value: Value) -> Value {
    let mut data = good_data();
    data[key] = json!({ "value": value });
    data
}

fn errcode(answer: &Value) -> i64 {
    answer["errcode"].as_i64().unwrap_or(0)
}

#[tokio::test]
async fn tokens_are_stable_until_forced_and_credentials_are_checked() {
    let c = Client::start().await;
    let first = c.token().await;
    assert_eq!(c.token().await, first);
    let wrong_appid = c.token_with("wxnope", SECRET, false).await;
    assert_eq!(
        (errcode(&wrong_appid), wrong_appid["errmsg"].as_str()),
        (40013, Some("invalid appid"))
    );
    let wrong_secret = c.token_with(APPID, "nope", false).await;
    assert_eq!(
        (errcode(&wrong_secret), wrong_secret["errmsg"].as_str()),
        (40125, Some("invalid appsecret"))
    );
    let bad_grant = c
        .post(
            "/cgi-bin/stable_token",
            json!({"grant_type": "password", "appid": APPID, "secret": SECRET}),
        )
        .await;
    assert_eq!(errcode(&bad_grant), 40002);

    let forced = c.token_with(APPID, SECRET, true).await;
    let second = forced["access_token"].as_str().unwrap().to_string();
    assert_ne!(second, first);
    assert_eq!(c.token().await, second);
    assert_eq!(c.standin.token_requests(), (7, 1));

    // The replaced token is not the latest any more; a garbage one never was.
    assert_eq!(errcode(&c.send(&first, good_data()).await), 40001);
    assert_eq!(errcode(&c.send("garbage", good_data()).await), 40001);
    assert_eq!(errcode(&c.send("", good_data()).await), 41001);

    // An expired token answers 42001 and the next stable_token call hands out a new one.
    c.standin.expire_token();
    let expired = c.send(&second, good_data()).await;
    assert_eq!(
        (errcode(&expired), expired["errmsg"].as_str()),
        (42001, Some("access_token expired"))
    );
    let third = c.token().await;
    assert_ne!(third, second);
    c.standin.grant("o-alice", TEMPLATE, 1);
    assert_eq!(errcode(&c.send(&third, good_data()).await), 0);
}

#[tokio::test]
async fn a_send_consumes_one_grant_and_is_recorded() {
    let c = Client::start().await;
    let token = c.token().await;
    c.standin.grant("o-alice", TEMPLATE, 2);

    let first = c.send(&token, good_data()).await;
    assert_eq!(
        (errcode(&first), first["errmsg"].as_str()),
        (0, Some("ok")),
        "{first}"
    );
    assert!(first["msgid"].is_u64());
    let second = c.send(&token, good_data()).await;
    assert_eq!(errcode(&second), 0);
    assert_ne!(second["msgid"], first["msgid"]);

    let refused = c.send(&token, good_data()).await;
    assert_eq!(
        (errcode(&refused), refused["errmsg"].as_str()),
        (43101, Some("user refuse to accept the msg"))
    );
    let sent = c.standin.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0],
        SentMessage {
            touser: "o-alice".into(),
            template_id: TEMPLATE.into(),
            page: Some("pages/order?id=7".into()),
            data: good_data(),
            miniprogram_state: Some("trial".into()),
            lang: Some("zh_CN".into()),
        }
    );

    // A grant is per shopper and per template.
    c.standin.grant("o-bob", TEMPLATE, 1);
    assert_eq!(errcode(&c.send(&token, good_data()).await), 43101);
}

#[tokio::test]
async fn sends_are_rejected_with_wechat_codes() {
    let c = Client::start().await;
    let token = c.token().await;
    c.standin.grant("o-alice", TEMPLATE, 10);

    c.standin.fail_sends(2);
    for _ in 0..2 {
        let failed = c.send(&token, good_data()).await;
        assert_eq!(failed, json!({"errcode": -1, "errmsg": "system error"}));
    }

    let unknown = c
        .send_with(
            &token,
            json!({"touser": "o-alice", "template_id": "nope", "data": good_data()}),
        )
        .await;
    assert_eq!(
        (errcode(&unknown), unknown["errmsg"].as_str()),
        (40037, Some("invalid template_id"))
    );
    let no_user = c
        .send_with(
            &token,
            json!({"template_id": TEMPLATE, "data": good_data()}),
        )
        .await;
    assert_eq!(errcode(&no_user), 40003);

    let mut missing = good_data();
    missing.as_object_mut().unwrap().remove("thing2");
    let answer = c.send(&token, missing).await;
    assert_eq!(
        answer["errmsg"],
        "argument invalid! data.thing2.value is empty"
    );
    let mut extra = good_data();
    extra["thing9"] = json!({"value": "x"});
    assert_eq!(
        c.send(&token, extra).await["errmsg"],
        "argument invalid! data.thing9 invalid"
    );
    let answer = c.send(&token, with("thing2", json!(""))).await;
    assert_eq!(
        answer["errmsg"],
        "argument invalid! data.thing2.value is empty"
    );
    let answer = c.send(&token, with("amount3", json!(128.5))).await;
    assert_eq!(
        (errcode(&answer), answer["errmsg"].as_str()),
        (47003, Some("argument invalid! data.amount3.value invalid"))
    );

    let bad_state = c
        .send_with(
            &token,
            json!({"touser": "o-alice", "template_id": TEMPLATE, "data": good_data(),
            "miniprogram_state": "beta"}),
        )
        .await;
    assert_eq!(errcode(&bad_state), 47003);

    // Nothing was delivered, and no grant was spent: the minimal send goes through.
    assert!(c.standin.sent().is_empty());
    let ok = c
        .send_with(
            &token,
            json!({"touser": "o-alice", "template_id": TEMPLATE, "data": good_data()}),
        )
        .await;
    assert_eq!(errcode(&ok), 0, "{ok}");
    assert_eq!(c.standin.sent()[0].page, None);
}

#[tokio::test]
async fn values_follow_their_type_rules() {
    let c = Client::start().await;
    c.standin.add_template(
        "tpl-all",
        &[
            "thing1",
            "number2",
            "amount3",
            "time4",
            "date5",
            "phrase6",
            "character_string7",
            "letter8",
            "symbol9",
            "name10",
            "phone_number11",
            "car_number12",
        ],
    );
    let token = c.token().await;
    c.standin.grant("o-alice", "tpl-all", 1000);
    let base = json!({
        "thing1": {"value": "x"}, "number2": {"value": "1"}, "amount3": {"value": "1"},
        "time4": {"value": "15:01"}, "date5": {"value": "2026-11-24"}, "phrase6": {"value": "已发货"},
        "character_string7": {"value": "A1"}, "letter8": {"value": "ab"}, "symbol9": {"value": "%"},
        "name10": {"value": "张三"}, "phone_number11": {"value": "+86-0766-66888866"},
        "car_number12": {"value": "粤A8Z888挂"},
    });
    let cases: &[(&str, &str, bool)] = &[
        ("thing1", &"长".repeat(20), true),
        ("thing1", &"长".repeat(21), false),
        ("thing1", "Order #7: 2 items, ok", false), // 21 characters
        ("number2", "12.50", true),
        ("number2", &"9".repeat(32), true),
        ("number2", &"9".repeat(33), false),
        ("number2", "-3", false),
        ("number2", "1.2.3", false),
        ("amount3", "¥128.50", true),
        ("amount3", "￥0.5元", true),
        ("amount3", "128元", true),
        ("amount3", "9999999999.99", true),
        ("amount3", "12345678901", false),
        ("amount3", "1.234", false),
        ("amount3", "1,000.00", false),
        ("time4", "2026-11-24 08:30", true),
        ("time4", "2019年10月1日 15:01", true),
        ("time4", "2023-08-21 22:48:54", true),
        ("time4", "08:30~09:30", true),
        ("time4", "24:00", false),
        ("time4", "2026-11-24", false),
        ("time4", "soon", false),
        ("date5", "2019年10月1日", true),
        ("date5", "2026/11/24", true),
        ("date5", "2026-11-24 15:01", true),
        ("date5", "2026-11-24~2026-11-30", true),
        ("date5", "2026-02-30", false),
        ("date5", "15:01", false),
        ("phrase6", "配送中", true),
        ("phrase6", "五个汉字啊", true),
        ("phrase6", "六个汉字啊啊", false),
        ("phrase6", "ok", false),
        ("character_string7", "FH-20261124_0001", true),
        ("character_string7", &"a".repeat(33), false),
        ("character_string7", "订单1", false),
        ("character_string7", "a b", false),
        ("letter8", "abc", true),
        ("letter8", "ab1", false),
        ("symbol9", "#$%&*", true),
        ("symbol9", "%%%%%%", false),
        ("symbol9", "a", false),
        ("name10", "Alice Smith", true),
        ("name10", "欧阳娜娜娜娜娜娜娜娜", true),
        ("name10", "欧阳娜娜娜娜娜娜娜娜娜", false),
        ("name10", "R2D2", false),
        ("phone_number11", "123456789012345678", false),
        ("phone_number11", "call me", false),
        ("car_number12", "粤A12345", true),
        ("car_number12", "粤A1234567", false),
        ("car_number12", "粤A-123", false),
    ];
    for (key, value, ok) in cases {
        let mut data = base.clone();
        data[*key] = json!({ "value": value });
        let body = json!({"touser": "o-alice", "template_id": "tpl-all", "data": data});
        let answer = c.send_with(&token, body).await;
        if *ok {
            assert_eq!(errcode(&answer), 0, "{key}={value}: {answer}");
        } else {
            assert_eq!(
                answer,
                json!({"errcode": 47003, "errmsg": format!("argument invalid! data.{key}.value invalid")}),
                "{key}={value}"
            );
        }
    }
}

#[tokio::test]
async fn jscode2session_logs_shoppers_in() {
    let c = Client::start().await;
    let get = |query: String| {
        let url = format!("{}/sns/jscode2session?{query}", c.standin.base_url());
        let http = c.http.clone();
        async move {
            let text = http.get(url).send().await.unwrap().text().await.unwrap();
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let login = |code: &str| {
        format!("appid={APPID}&secret={SECRET}&js_code={code}&grant_type=authorization_code")
    };
    let answer = get(login("abc")).await;
    assert_eq!(answer["openid"], "o-abc");
    assert_eq!(answer["unionid"], "u-abc");
    assert!(answer["session_key"]
        .as_str()
        .is_some_and(|k| k.len() == 24));
    assert_eq!(get(login("abc")).await, answer);

    let invalid = get(login("invalid")).await;
    assert_eq!(
        (errcode(&invalid), invalid["errmsg"].as_str()),
        (40029, Some("invalid code"))
    );
    let wrong = get(format!(
        "appid={APPID}&secret=x&js_code=abc&grant_type=authorization_code"
    ))
    .await;
    assert_eq!(errcode(&wrong), 40125);
    let wrong = get(format!(
        "appid=wxother&secret={SECRET}&js_code=abc&grant_type=authorization_code"
    ))
    .await;
    assert_eq!(errcode(&wrong), 40013);
}
