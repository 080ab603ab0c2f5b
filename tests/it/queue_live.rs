//! What the live tests share: the RULES.md queue built through GraphQL, and orders.

use serde_json::{json, Value};

use crate::helpers::*;

pub const POSITION: &str =
    "subscription($id: ID!) { queuePosition(entryId: $id) { status position received } }";

/// Records and completes an order of `amount` for `user` through GraphQL.
pub async fn complete(
    t: &TestApp,
    cashier: &str,
    store: &str,
    user: &str,
    amount: &str,
    key: &str,
) -> Value {
    t.ok(
        Some(cashier),
        "mutation($i: RecordOrderInput!) { recordOrder(input: $i) { queueEntry { id } } }",
        json!({ "i": { "storeId": store, "userId": user, "amount": amount, "idempotencyKey": key, "complete": true } }),
    )
    .await["recordOrder"]
        .clone()
}

/// The RULES.md table (A–G, F referred by P) at one merchant; returns G's entry id.
pub async fn rules_table(t: &TestApp, m: &Merchant, cashier: &str) -> (String, String) {
    let mut p_scene = String::new();
    let mut g = (String::new(), String::new());
    for name in ["P", "A", "B", "C", "D", "E", "F", "G"] {
        let (token, id) = t.shopper(&unique(name)).await;
        let scene = if name == "F" {
            p_scene.clone()
        } else {
            m.store_scene.clone()
        };
        let joined = t.join(&token, &scene).await;
        if name == "P" {
            p_scene = joined["referralCode"]["scene"].as_str().unwrap().to_owned();
            continue;
        }
        let amount = match name {
            "D" => "600",
            "F" => "200",
            "G" => "300",
            _ => "1000",
        };
        let order = complete(t, cashier, &m.store_id, &id, amount, name).await;
        if name == "G" {
            g = (
                token,
                order["queueEntry"]["id"].as_str().unwrap().to_owned(),
            );
        }
    }
    g
}
