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
