//! The README's walkthrough: merchant → store → QR code → shopper login → join → referral.

use serde_json::json;

use crate::helpers::*;

/// Draws the SVG that `qrcode` renders (one path of `M l t h w v h H l V t` rectangles) and
/// reads it back with a QR decoder, as a phone camera would.
fn decode_svg(svg: &str) -> String {
    let attr = |name: &str| -> usize {
        let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[start..].split('"').next().unwrap().parse().unwrap()
    };
    let (w, h) = (attr("width"), attr("height"));
    let mut dark = vec![false; w * h];
    let path_start = svg.find(" d=\"").expect("a path") + 4;
    let path = svg[path_start..].split('"').next().unwrap();
    for rect in path.split('M').filter(|r| !r.is_empty()) {
        let numbers: Vec<usize> = rect
            .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let (left, top, width, height) = (numbers[0], numbers[1], numbers[2], numbers[3]);
        for y in top..top + height {
            for x in left..left + width {
                dark[y * w + x] = true;
            }
        }
    }
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(
            w,
            h,
            |x, y| if dark[y * w + x] { 0 } else { 255 },
        );
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the SVG");
    grids[0].decode().expect("the QR code decodes").1
}

#[tokio::test]
async fn merchant_store_qr_login_join_and_referral() {
    let t = TestApp::new().await;
    let admin = t.admin_token().await;

    // The platform creates a merchant with its owner.
    let data = t
        .ok(
            Some(&admin),
            "mutation { createMerchant(input: { name: \"  Tea House \", ownerUsername: \"Tea.Owner\", ownerPassword: \"correct-horse\" }) { id name stores { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["createMerchant"]["name"], "Tea House");
    assert_eq!(data["createMerchant"]["stores"], json!([]));
    let merchant_id = data["createMerchant"]["id"].as_str().unwrap().to_owned();

    // The owner logs in (usernames are case-insensitive) and opens a store.
    let data = t
        .ok(
            None,
            "mutation { staffLogin(username: \"tea.owner\", password: \"correct-horse\") { token expiresAt user { id } staff { username role merchant { id name } } } }",
            json!({}),
        )
        .await;
    let login = &data["staffLogin"];
    assert_eq!(login["staff"]["role"], "OWNER");
    assert_eq!(login["staff"]["username"], "tea.owner");
    assert_eq!(login["staff"]["merchant"]["id"], merchant_id.as_str());
    assert_eq!(login["user"], json!(null));
    assert_eq!(login["expiresAt"], "2026-03-08T09:00:00+00:00");
    let owner = login["token"].as_str().unwrap().to_owned();

    let data = t
        .ok(
            Some(&owner),
            "mutation($m: ID!) { createStore(merchantId: $m, name: \"West Lake\") { id name qrCode { scene page svg } } }",
            json!({ "m": merchant_id }),
        )
        .await;
    let store = &data["createStore"];
    assert_eq!(store["name"], "West Lake");
    let store_id = store["id"].as_str().unwrap().to_owned();
    let scene = store["qrCode"]["scene"].as_str().unwrap().to_owned();
    assert!(scene.len() <= 32);
    assert_eq!(store["qrCode"]["page"], "pages/join/index");
    let svg = store["qrCode"]["svg"].as_str().unwrap();
    assert!(svg.contains("<svg"));
    assert_eq!(
        decode_svg(svg),
        format!("http://127.0.0.1:8080/console/join?scene={scene}")
    );

    // A shopper logs in from the mini-program and scans the store's code.
    let (alice, alice_id) = t.shopper("alice").await;
    let joined = t.join(&alice, &scene).await;
    assert_eq!(joined["justJoined"], true);
    assert_eq!(joined["store"]["id"], store_id.as_str());
    assert_eq!(joined["referrer"], json!(null));
    let member_code = joined["memberCode"].as_str().unwrap();
    assert_eq!(member_code.len(), 8);
    assert!(member_code.chars().all(|c| c.is_ascii_digit()));
    let alice_scene = joined["referralCode"]["scene"].as_str().unwrap().to_owned();
    assert_ne!(alice_scene, scene);

    // Her friend scans Alice's personal code: store and referrer are bound.
    let (bob, _bob_id) = t.shopper("bob").await;
    let joined = t.join(&bob, &alice_scene).await;
    assert_eq!(joined["justJoined"], true);
    assert_eq!(joined["referrer"]["id"], alice_id.as_str());
    assert_eq!(joined["store"]["id"], store_id.as_str());

    // Alice sees her membership and one referral.
    let data = t
        .ok(
            Some(&alice),
            "query($m: ID!) { me { id memberships { merchant { name } } } membership(merchantId: $m) { memberCode referralCount joinedAt user { id } merchant { id } } }",
            json!({ "m": merchant_id }),
        )
        .await;
    assert_eq!(data["me"]["id"], alice_id.as_str());
    assert_eq!(
        data["me"]["memberships"],
        json!([{ "merchant": { "name": "Tea House" } }])
    );
    assert_eq!(data["membership"]["referralCount"], 1);
    assert_eq!(data["membership"]["memberCode"], member_code);
    assert_eq!(data["membership"]["joinedAt"], "2026-03-01T09:00:00+00:00");

    // The owner sees both members, newest first, a page at a time.
    let data = t
        .ok(
            Some(&owner),
            "query($m: ID!) { members(merchantId: $m, first: 1) { edges { cursor node { user { id } referrer { id } } } pageInfo { hasNextPage endCursor } } }",
            json!({ "m": merchant_id }),
        )
        .await;
    let page = &data["members"];
    assert_eq!(page["edges"].as_array().unwrap().len(), 1);
    assert_eq!(
        page["edges"][0]["node"]["referrer"]["id"],
        alice_id.as_str()
    );
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap();
    let data = t
        .ok(
            Some(&owner),
            "query($m: ID!, $a: String) { members(merchantId: $m, first: 5, after: $a) { edges { node { user { id } } } pageInfo { hasNextPage } } }",
            json!({ "m": merchant_id, "a": cursor }),
        )
        .await;
    assert_eq!(
        data["members"]["edges"],
        json!([{ "node": { "user": { "id": alice_id } } }])
    );
    assert_eq!(data["members"]["pageInfo"]["hasNextPage"], false);

    // Another shopper can see the merchant's public face but not print its store codes.
    let data = t
        .gql(
            Some(&bob),
            "query($m: ID!) { merchant(id: $m) { name stores { name qrCode { scene } } } }",
            json!({ "m": merchant_id }),
        )
        .await;
    assert_eq!(error_code(&data), "FORBIDDEN");
    assert!(
        !data.to_string().contains(&scene),
        "a shopper got the store's code: {data}"
    );
    let data = t
        .ok(
            Some(&bob),
            "query($m: ID!) { merchant(id: $m) { name stores { name } } }",
            json!({ "m": merchant_id }),
        )
        .await;
    assert_eq!(data["merchant"]["stores"], json!([{ "name": "West Lake" }]));
}

#[tokio::test]
async fn health_and_readiness() {
    let t = TestApp::new().await;
    let get = |path: &str| {
        axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let (status, body) = t.request(get("/healthz")).await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    let (status, body) = t.request(get("/readyz")).await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["database"], "ok");
    let page = axum::http::Request::get("/graphql")
        .header("accept", "text/html")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = t.request(page).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("graphiql"));
}
