//! RULES.md "Referral binding": first join binds for good; forged codes, self-referral and
//! referrers outside the merchant are refused and write nothing.

use chrono::Utc;
use entity::referral_code;
use fenhong::rules::scene::SceneKind;
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

use crate::helpers::*;

const JOIN: &str = "mutation($s: String!) { joinByScene(scene: $s) { justJoined } }";

#[tokio::test]
async fn a_second_scan_changes_nothing_and_says_so() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Noodles").await;
    let (alice, alice_id) = t.shopper("alice").await;
    let (bob, _) = t.shopper("bob").await;
    let (carol, _) = t.shopper("carol").await;
    let alice_scene = t.join(&alice, &m.store_scene).await["referralCode"]["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = t.join(&carol, &m.store_scene).await;
    let carol_scene = first["referralCode"]["scene"].as_str().unwrap().to_owned();

    let joined = t.join(&bob, &alice_scene).await;
    assert_eq!(joined["referrer"]["id"], alice_id.as_str());

    // Bob scans Carol's code and the store's code later: still Alice's referral, same code.
    for scene in [&carol_scene, &m.store_scene, &alice_scene] {
        let again = t.join(&bob, scene).await;
        assert_eq!(again["justJoined"], false);
        assert_eq!(again["referrer"]["id"], alice_id.as_str());
        assert_eq!(again["memberCode"], joined["memberCode"]);
    }
    assert_eq!(t.count("memberships").await, 3);
    assert_eq!(t.count("referral_codes").await, 4); // the store's and three members'
}

#[tokio::test]
async fn forged_and_altered_scenes_are_rejected_without_writes() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Dumplings").await;
    let (shopper, _) = t.shopper("dave").await;
    let mut altered = m.store_scene.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    // Correctly signed with another key (another deployment's code).
    let foreign = fenhong::rules::scene::SceneSigner::new(b"someone else").mint(SceneKind::Store);
    // Correctly signed but never issued.
    let unissued = t.app.state.scenes.mint(SceneKind::Store);
    for scene in [
        altered.as_str(),
        foreign.as_str(),
        unissued.as_str(),
        "",
        "hello world",
        &"s".repeat(40),
    ] {
        let response = t.gql(Some(&shopper), JOIN, json!({ "s": scene })).await;
        assert_eq!(
            error_code(&response),
            "INVALID_INPUT",
            "{scene}: {response}"
        );
    }
    assert_eq!(t.count("memberships").await, 0);
}

#[tokio::test]
async fn self_referral_is_rejected() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Bakery").await;
    let (alice, _) = t.shopper("alice").await;
    let own = t.join(&alice, &m.store_scene).await["referralCode"]["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = t.gql(Some(&alice), JOIN, json!({ "s": own })).await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("own referral code"));
    assert_eq!(t.count("memberships").await, 1);
}

#[tokio::test]
async fn a_referrer_who_is_not_a_member_is_rejected() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Florist").await;
    let (_, outsider_id) = t.shopper("outsider").await;
    let (newcomer, _) = t.shopper("newcomer").await;
    // A referral code naming a shopper who never joined this merchant.
    let scene = t.app.state.scenes.mint(SceneKind::Referral);
    referral_code::ActiveModel {
        merchant_id: Set(m.id.parse().unwrap()),
        store_id: Set(m.store_id.parse().unwrap()),
        referrer_id: Set(Some(outsider_id.parse().unwrap())),
        scene: Set(scene.clone()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&t.app.state.db)
    .await
    .unwrap();
    let response = t.gql(Some(&newcomer), JOIN, json!({ "s": scene })).await;
    assert_eq!(error_code(&response), "INVALID_INPUT");
    assert!(response["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not a member"));
    assert_eq!(t.count("memberships").await, 0);
}

#[tokio::test]
async fn memberships_of_two_merchants_are_separate() {
    let t = TestApp::new().await;
    let a = t.merchant_with_store("A").await;
    let b = t.merchant_with_store("B").await;
    let (alice, _) = t.shopper("alice").await;
    let (bob, _) = t.shopper("bob").await;
    let alice_a = t.join(&alice, &a.store_scene).await["referralCode"]["scene"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob joins A through Alice, then B through its store: B's membership has no referrer.
    assert_eq!(t.join(&bob, &alice_a).await["justJoined"], true);
    let at_b = t.join(&bob, &b.store_scene).await;
    assert_eq!(at_b["justJoined"], true);
    assert_eq!(at_b["referrer"], json!(null));
    assert_eq!(at_b["store"]["id"], b.store_id.as_str());
    let data = t
        .ok(
            Some(&bob),
            "{ me { memberships { merchant { name } referrer { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["me"]["memberships"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn simultaneous_scans_by_one_shopper_make_one_membership() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Cafe").await;
    let (shopper, _) = t.shopper("eager").await;
    let scans = (0..10).map(|_| t.gql(Some(&shopper), JOIN, json!({ "s": m.store_scene })));
    let results = futures::future::join_all(scans).await;
    let newly: Vec<bool> = results
        .iter()
        .map(|r| {
            assert!(r.get("errors").is_none(), "{r}");
            r["data"]["joinByScene"]["justJoined"].as_bool().unwrap()
        })
        .collect();
    assert_eq!(newly.iter().filter(|n| **n).count(), 1, "{newly:?}");
    assert_eq!(t.count("memberships").await, 1);
    assert_eq!(t.count("referral_codes").await, 2);
}
