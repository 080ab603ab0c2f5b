//! Nested fields are loaded in batches: a page of orders with their users, stores, queue
//! entries, rewards, memberships and wallets costs a few statements, as many for 100 orders
//! as for 10.

use std::sync::atomic::Ordering;

use serde_json::json;

use crate::{helpers::*, queue::queue_rules};

pub const NESTED_PAGE: &str =
    "query($m: ID!, $n: Int) { orders(merchantId: $m, first: $n) { edges { node {
    id amount status
    user { id nickname }
    store { id name }
    queueEntry { id status position target received order { id amount } }
    user2: user { memberships { memberCode wallet { cash points } } }
    rewards { kind amount unit beneficiary { id nickname } }
} } } }";

#[tokio::test]
async fn a_page_of_orders_with_nested_fields_costs_a_fixed_number_of_statements() {
    // The page's cost (every field, rewards counted as 10 each) is over the default limit;
    // the statements are what this test is about.
    let (t, statements) = TestApp::counting_statements(|c| c.max_query_cost = 20_000).await;
    let shop = t.shop(0).await;
    t.configure(&shop.merchant, json!({ "queue": queue_rules() }))
        .await;
    // Twelve shoppers, the later ones referred by the first, each with several orders.
    let (first_token, _) = t.shopper("batch-0").await;
    let joined = t.join(&first_token, &shop.merchant.store_scene).await;
    let referral = joined["referralCode"]["scene"].as_str().unwrap().to_owned();
    let mut users = vec![
        t.ok(Some(&first_token), "{ me { id } }", json!({})).await["me"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    ];
    for i in 1..12 {
        let (token, id) = t.shopper(&format!("batch-{i}")).await;
        t.join(&token, &referral).await;
        users.push(id);
    }
    for i in 0..100 {
        let user = &users[i % users.len()];
        let amount = format!("{}.00", 10 + i % 7);
        let order = t.order(&shop, user, &amount, json!({})).await;
        assert!(order.get("errors").is_none(), "{order}");
    }

    let mut counts = Vec::new();
    for first in [10, 100] {
        statements.store(0, Ordering::Relaxed);
        let page = t
            .ok(
                Some(&shop.cashier),
                NESTED_PAGE,
                json!({ "m": shop.merchant.id, "n": first }),
            )
            .await;
        counts.push(statements.load(Ordering::Relaxed));
        let edges = page["orders"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), first);
        // The answers are whole: every order has its user, store, entry and rewards.
        for edge in edges {
            let node = &edge["node"];
            assert!(node["user"]["id"].is_string());
            assert_eq!(node["store"]["name"], "Main street");
            assert_eq!(node["queueEntry"]["order"]["id"], node["id"]);
            assert_eq!(node["user2"]["memberships"].as_array().unwrap().len(), 1);
        }
        let rewards: usize = edges
            .iter()
            .map(|e| e["node"]["rewards"].as_array().unwrap().len())
            .sum();
        assert!(rewards > first, "queue and referral rewards are listed");
    }
    // One statement per kind of row and level of nesting, whatever the page size (each
    // batch loads when the request has nothing else to do, so no level splits however
    // slowly it runs). Unbatched, the page of 100 took 1602 statements and the page of 10
    // took 171.
    assert_eq!(counts[0], counts[1], "pages of 10 and 100: {counts:?}");
    assert!(counts[1] <= 20, "statements for a page: {counts:?}");
}

const LOOKUP: &str = "query($m: ID!) { merchant(id: $m) { id name } }";

/// `merchant(id)` lookups that come together share their reads (one statement for many
/// requests): each still gets its own merchant, an unknown id gets `null`, and a lookup made
/// after a rename committed sees the new name, however many lookups are in flight.
#[tokio::test]
async fn merchant_lookups_made_together_get_their_own_merchant_and_see_a_rename_at_once() {
    let t = TestApp::new().await;
    let mut merchants = Vec::new();
    for i in 0..3 {
        let name = unique(&format!("Lookup {i} "));
        merchants.push((t.merchant_with_store(&name).await, name));
    }
    let viewer = merchants[0].0.owner_token.clone();
    let unknown = "999999999";
    let asks: Vec<_> = (0..40)
        .map(|i| match i % 4 {
            3 => None,
            m => Some(&merchants[m]),
        })
        .collect();
    let answers = futures::future::join_all(asks.iter().map(|ask| {
        let id = ask.map_or(unknown, |(m, _)| m.id.as_str());
        t.ok(Some(&viewer), LOOKUP, json!({ "m": id }))
    }))
    .await;
    for (ask, answer) in asks.iter().zip(&answers) {
        match ask {
            Some((merchant, name)) => {
                assert_eq!(answer["merchant"]["id"], merchant.id.as_str());
                assert_eq!(answer["merchant"]["name"], name.as_str());
            }
            None => assert!(answer["merchant"].is_null(), "{answer}"),
        }
    }

    // Lookups keep coming while the first merchant is renamed: each lookup sent after a
    // rename answered shows that name, never the one before.
    let (merchant, _) = &merchants[0];
    let stop = std::sync::atomic::AtomicBool::new(false);
    let background = async {
        let mut seen = 0;
        while !stop.load(Ordering::Relaxed) {
            let batch = futures::future::join_all(
                (0..8).map(|_| t.ok(Some(&viewer), LOOKUP, json!({ "m": merchant.id }))),
            )
            .await;
            seen += batch.len();
        }
        seen
    };
    let renames = async {
        for round in 0..10 {
            let name = format!("Renamed {round}");
            t.ok(
                Some(&merchant.owner_token),
                "mutation($m: ID!, $i: UpdateMerchantInput!) { updateMerchant(merchantId: $m, input: $i) { name } }",
                json!({ "m": merchant.id, "i": { "name": name } }),
            )
            .await;
            let after = futures::future::join_all(
                (0..4).map(|_| t.ok(Some(&viewer), LOOKUP, json!({ "m": merchant.id }))),
            )
            .await;
            for answer in after {
                assert_eq!(answer["merchant"]["name"], name.as_str(), "round {round}");
            }
        }
        stop.store(true, Ordering::Relaxed);
    };
    let (seen, ()) = tokio::join!(background, renames);
    assert!(seen > 0);
}
