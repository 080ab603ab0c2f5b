//! Versioned programs and the guardrail (RULES.md "Guardrail").

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn each_change_is_a_new_version_and_completions_record_theirs() {
    let t = TestApp::new().await;
    let shop = t.shop(1).await;
    let m = &shop.merchant;
    let user = &shop.shoppers[0].1;
    let first = t.order(&shop, user, "100.00", json!({})).await;
    assert_eq!(first["data"]["recordOrder"]["programVersion"], 1);
    let v2 = t
        .configure(
            m,
            json!({ "rebate": { "enabled": true, "rebateRate": "0.10" }, "withdrawal": { "minWithdrawal": "20.00", "feeRatio": "0.01" } }),
        )
        .await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["payoutRatio"], "0.1000");
    let second = t.order(&shop, user, "100.00", json!({})).await;
    assert_eq!(second["data"]["recordOrder"]["programVersion"], 2);
    assert_eq!(second["data"]["recordOrder"]["rewards"][0]["amount"], "10");

    let data = t
        .ok(
            Some(&shop.shoppers[0].0),
            "query($m: ID!) { merchant(id: $m) { programs { version rebate { enabled rebateRate pointValue pointsExpiryDays maxDeductionRatio } withdrawal { minWithdrawal feeRatio } queue { enabled } maxPayoutRatio autoCompleteDays } } }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(
        data["merchant"]["programs"],
        json!({
            "version": 2,
            "rebate": { "enabled": true, "rebateRate": "0.10", "pointValue": "1.00", "pointsExpiryDays": 365, "maxDeductionRatio": "0.50" },
            "withdrawal": { "minWithdrawal": "20.00", "feeRatio": "0.01" },
            "queue": null,
            "maxPayoutRatio": "1.00",
            "autoCompleteDays": null
        })
    );
    // Version 1 is still what the first order was completed under.
    let v1 = fenhong::services::programs::version(&t.app.state.db, m.id.parse().unwrap(), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.set.rebate.unwrap().rebate_rate.to_string(), "0.05");
}

#[tokio::test]
async fn the_guardrail_refuses_programs_paying_out_more_than_allowed() {
    let t = TestApp::new().await;
    let m = t.merchant_with_store("Guarded").await;
    let over = t
        .gql(
            Some(&m.owner_token),
            "mutation($m: ID!, $i: ProgramsInput!) { configurePrograms(merchantId: $m, input: $i) { version } }",
            json!({ "m": m.id, "i": {
                "queue": { "enabled": true, "activeSlots": 3, "queueRatio": "0.40", "referralRatio": "0.20", "secondLevelRatio": "0.10" },
                "rebate": { "enabled": true, "rebateRate": "0.05" },
                "valueAdded": { "enabled": true, "poolRatio": "0.30", "mintRatio": "0.70" }
            } }),
        )
        .await;
    assert_eq!(error_code(&over), "INVALID_INPUT");
    assert!(over["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("maxPayoutRatio"));
    assert_eq!(t.count("program_versions").await, 0);
    // 0.40 + 0.20 + 0.05 × 1.00 + 0.30 = 0.95 fits under 1.00.
    let ok = t
        .configure(
            &m,
            json!({
                "queue": { "enabled": true, "activeSlots": 3, "queueRatio": "0.40", "referralRatio": "0.20" },
                "rebate": { "enabled": true, "rebateRate": "0.05" },
                "valueAdded": { "enabled": true, "poolRatio": "0.30", "mintRatio": "0.70" }
            }),
        )
        .await;
    assert_eq!(ok["payoutRatio"], "0.9500");
    // Lowering the cap below what is configured is refused as well.
    let lowered = t
        .gql(
            Some(&m.owner_token),
            "mutation($m: ID!) { configurePrograms(merchantId: $m, input: { maxPayoutRatio: \"0.90\" }) { version } }",
            json!({ "m": m.id }),
        )
        .await;
    assert_eq!(error_code(&lowered), "INVALID_INPUT");
    for bad in [
        json!({ "rebate": { "enabled": true, "rebateRate": "1.5" } }),
        json!({ "queue": { "enabled": true, "activeSlots": 0, "queueRatio": "0.4", "referralRatio": "0.2" } }),
        json!({ "withdrawal": { "minWithdrawal": "-1" } }),
        json!({ "autoCompleteDays": -1 }),
        json!({ "rebate": { "enabled": true, "rebateRate": "0.05", "pointValue": "0.001" } }),
    ] {
        let response = t
            .gql(
                Some(&m.owner_token),
                "mutation($m: ID!, $i: ProgramsInput!) { configurePrograms(merchantId: $m, input: $i) { version } }",
                json!({ "m": m.id, "i": bad }),
            )
            .await;
        assert_eq!(error_code(&response), "INVALID_INPUT", "{bad}");
    }
    assert_eq!(t.count("program_versions").await, 1);
}
