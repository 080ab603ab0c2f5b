//! Two instances completing one merchant's orders at once give exactly the result of
//! completing them one by one in commit order.

use std::collections::HashMap;

use entity::{order, queue_entry};
use fenhong::{
    clock::Clock,
    rules::{money::Unit, programs::QueueRules, queue::Completion, queue_book::QueueBook},
    services::{orders, queue},
};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::json;

use crate::{helpers::*, queue::queue_rules};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_completing_500_orders_match_a_serial_replay() {
    let t = TestApp::new().await;
    let other = t.second_instance().await;
    let shop = t.shop(10).await;
    t.configure(&shop.merchant, json!({ "queue": queue_rules() }))
        .await;
    let merchant_id: i64 = shop.merchant.id.parse().unwrap();
    let mut ids = Vec::new();
    for i in 0..500 {
        let user = &shop.shoppers[i % 10].1;
        let amount = format!("{}.{:02}", 10 + (i * 37) % 990, (i * 13) % 100);
        let paid = t
            .order(&shop, user, &amount, json!({ "complete": false }))
            .await;
        ids.push(
            paid["data"]["recordOrder"]["id"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        );
    }
    let now = t.clock.now();
    let mut tasks = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let db = if i % 2 == 0 {
            t.app.state.db.clone()
        } else {
            other.state.db.clone()
        };
        let id = *id;
        tasks.push(tokio::spawn(async move {
            orders::complete_order(&db, merchant_id, id, now).await
        }));
    }
    for task in tasks {
        task.await.unwrap().expect("every completion succeeds");
    }

    // Replay in commit order: the order in which entries took their ordinals.
    let db = &t.app.state.db;
    let entries = queue_entry::Entity::find()
        .order_by_asc(queue_entry::Column::Ordinal)
        .all(db)
        .await
        .unwrap();
    assert_eq!(entries.len(), 500);
    let by_id: HashMap<i64, order::Model> = order::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let rules: QueueRules = fenhong::services::programs::current(db, merchant_id)
        .await
        .unwrap()
        .set
        .queue
        .unwrap();
    let mut book = QueueBook::new(rules.clone());
    let mut expected_received: HashMap<i64, rust_decimal::Decimal> = HashMap::new();
    let mut entry_of_book: HashMap<i64, i64> = HashMap::new();
    for entry in &entries {
        let order = &by_id[&entry.order_id];
        let completion = Completion {
            cash_base: Unit::Cny.from_minor(order.cash_paid),
            has_referrer: false,
            has_second_referrer: false,
        };
        let (settlement, new_id) = book.complete(completion).unwrap();
        for share in settlement.shares {
            *expected_received
                .entry(entry_of_book[&share.entry_id])
                .or_default() += share.amount;
        }
        entry_of_book.insert(new_id.unwrap(), entry.id);
    }
    for entry in &entries {
        let expected = expected_received
            .get(&entry.id)
            .copied()
            .unwrap_or_default();
        assert_eq!(
            Unit::Cny.from_minor(entry.received),
            expected,
            "entry {}",
            entry.ordinal
        );
        assert_eq!(entry.status == "COMPLETED", entry.received == entry.target);
    }
    assert_eq!(queue::pool(db, merchant_id).await.unwrap(), book.pool);
    let (waiting, active, completed, _) = queue::stats(db, merchant_id, rules.active_slots)
        .await
        .unwrap();
    assert_eq!((waiting + active) as usize, book.live.len());
    assert_eq!(completed as u64, book.completed);
    t.assert_audit_clean().await;
}
