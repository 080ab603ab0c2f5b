//! The ledger check: the function and the `fenhong audit` command find what is wrong.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

fn audit_command(t: &TestApp) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_fenhong"))
        .arg("audit")
        .env("DATABASE_URL", &t.app.state.config.database_url)
        .env("RUST_LOG", "error")
        .output()
        .expect("run fenhong audit");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_audit_passes_a_sound_ledger_and_catches_a_broken_one() {
    let t = TestApp::new().await;
    let shop = t.shop(2).await;
    t.order(&shop, &shop.shoppers[0].1, "500.00", json!({}))
        .await;
    t.credit_cash(&shop.merchant.id, &shop.shoppers[1].1, "20.00")
        .await;
    let (ok, out) = audit_command(&t);
    assert!(ok, "{out}");
    assert!(out.contains("ledger is clean"), "{out}");
    assert!(out.contains("transactions checked: 2"), "{out}");

    // A cached balance that no longer equals its postings.
    let db = &t.app.state.db;
    db.execute_unprepared("UPDATE ledger_accounts SET balance = balance + 1 WHERE owner_kind = 'MERCHANT' AND kind = 'REWARD_FUNDING'")
        .await
        .unwrap();
    let report = fenhong::ledger::audit(db).await.unwrap();
    assert_eq!(report.balance_mismatches.len(), 1);
    assert!(!report.is_clean());
    let (ok, out) = audit_command(&t);
    assert!(!ok, "{out}");
    assert!(out.contains("LEDGER HAS PROBLEMS"), "{out}");

    // A posting that unbalances its transaction, and points that no lot backs.
    db.execute_unprepared("UPDATE ledger_postings SET amount = amount + 7 WHERE kind = 'REBATE_POINTS' AND amount > 0")
        .await
        .unwrap();
    let report = fenhong::ledger::audit(db).await.unwrap();
    assert_eq!(report.unbalanced_transactions.len(), 1);
    assert_eq!(report.balance_mismatches.len(), 2);
    db.execute_unprepared("UPDATE point_lots SET remaining = remaining + 3")
        .await
        .unwrap();
    let report = fenhong::ledger::audit(db).await.unwrap();
    assert_eq!(report.lot_mismatches.len(), 1);
}

#[tokio::test]
async fn the_database_refuses_a_negative_shopper_balance() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    t.credit_cash(&shop.merchant.id, &shop.shoppers[0].1, "5.00")
        .await;
    // Even a write that skips the service layer cannot drive it below zero.
    let db = &t.app.state.db;
    let result = db
        .execute_unprepared(
            "UPDATE ledger_accounts SET balance = -1 WHERE owner_kind = 'USER' AND kind = 'CASH'",
        )
        .await;
    assert!(result.is_err(), "the CHECK constraint must refuse it");
    assert_eq!(
        t.wallet(&shop.shoppers[0].0, &shop.merchant.id).await["cash"],
        "5.00"
    );
}
