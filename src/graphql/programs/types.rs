use async_graphql::{InputObject, SimpleObject};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::{
    rules::programs as rules,
    services::programs::{ProgramsPatch, Versioned},
};

#[derive(InputObject)]
pub struct QueueRulesInput {
    pub enabled: bool,
    pub active_slots: i32,
    pub queue_ratio: Decimal,
    pub referral_ratio: Decimal,
    pub second_level_ratio: Option<Decimal>,
    pub cap_multiple: Option<Decimal>,
    pub min_order_amount: Option<Decimal>,
}

impl From<QueueRulesInput> for rules::QueueRules {
    fn from(i: QueueRulesInput) -> Self {
        Self {
            enabled: i.enabled,
            active_slots: i.active_slots,
            queue_ratio: i.queue_ratio,
            referral_ratio: i.referral_ratio,
            second_level_ratio: i.second_level_ratio.unwrap_or(Decimal::ZERO),
            cap_multiple: i.cap_multiple.unwrap_or(Decimal::ONE),
            min_order_amount: i.min_order_amount.unwrap_or(dec!(0.00)),
        }
    }
}

#[derive(InputObject)]
pub struct RebateRulesInput {
    pub enabled: bool,
    pub rebate_rate: Decimal,
    pub point_value: Option<Decimal>,
    pub points_expiry_days: Option<i32>,
    pub max_deduction_ratio: Option<Decimal>,
}

impl From<RebateRulesInput> for rules::RebateRules {
    fn from(i: RebateRulesInput) -> Self {
        Self {
            enabled: i.enabled,
            rebate_rate: i.rebate_rate,
            point_value: i.point_value.unwrap_or(dec!(1.00)),
            points_expiry_days: i.points_expiry_days.unwrap_or(365),
            max_deduction_ratio: i.max_deduction_ratio.unwrap_or(dec!(0.50)),
        }
    }
}

#[derive(InputObject)]
pub struct ValueAddedRulesInput {
    pub enabled: bool,
    pub pool_ratio: Decimal,
    pub mint_ratio: Decimal,
    pub initial_price: Option<Decimal>,
    pub redeem_fee_ratio: Option<Decimal>,
    pub exit_threshold: Option<Decimal>,
    pub exit_portion: Option<Decimal>,
}

impl From<ValueAddedRulesInput> for rules::ValueAddedRules {
    fn from(i: ValueAddedRulesInput) -> Self {
        Self {
            enabled: i.enabled,
            pool_ratio: i.pool_ratio,
            mint_ratio: i.mint_ratio,
            initial_price: i.initial_price.unwrap_or(dec!(1.0000)),
            redeem_fee_ratio: i.redeem_fee_ratio.unwrap_or(dec!(0.10)),
            exit_threshold: i.exit_threshold.unwrap_or(Decimal::ZERO),
            exit_portion: i.exit_portion.unwrap_or(dec!(0.50)),
        }
    }
}

#[derive(InputObject)]
pub struct WithdrawalRulesInput {
    pub min_withdrawal: Decimal,
    pub fee_ratio: Option<Decimal>,
    /// The largest single request (default 200.00).
    pub max_withdrawal: Option<Decimal>,
    /// The WeChat Pay transfer scene withdrawals are paid under (default `1000`, 现金营销).
    pub transfer_scene_id: Option<String>,
}

impl From<WithdrawalRulesInput> for rules::WithdrawalRules {
    fn from(i: WithdrawalRulesInput) -> Self {
        let defaults = rules::WithdrawalRules::default();
        Self {
            min_withdrawal: i.min_withdrawal,
            fee_ratio: i.fee_ratio.unwrap_or(dec!(0.00)),
            max_withdrawal: i.max_withdrawal.unwrap_or(defaults.max_withdrawal),
            transfer_scene_id: i
                .transfer_scene_id
                .map(|s| s.trim().to_owned())
                .unwrap_or(defaults.transfer_scene_id),
        }
    }
}

/// A change of programs: each section given replaces that section, the rest stays.
#[derive(InputObject)]
pub struct ProgramsInput {
    pub queue: Option<QueueRulesInput>,
    pub rebate: Option<RebateRulesInput>,
    pub value_added: Option<ValueAddedRulesInput>,
    pub withdrawal: Option<WithdrawalRulesInput>,
    pub auto_complete_days: Option<i32>,
    pub max_payout_ratio: Option<Decimal>,
}

impl From<ProgramsInput> for ProgramsPatch {
    fn from(i: ProgramsInput) -> Self {
        Self {
            queue: i.queue.map(Into::into),
            rebate: i.rebate.map(Into::into),
            value_added: i.value_added.map(Into::into),
            withdrawal: i.withdrawal.map(Into::into),
            auto_complete_days: i.auto_complete_days,
            max_payout_ratio: i.max_payout_ratio,
        }
    }
}

#[derive(SimpleObject)]
pub struct QueueRules {
    pub enabled: bool,
    pub active_slots: i32,
    pub queue_ratio: Decimal,
    pub referral_ratio: Decimal,
    pub second_level_ratio: Decimal,
    pub cap_multiple: Decimal,
    pub min_order_amount: Decimal,
}

impl From<rules::QueueRules> for QueueRules {
    fn from(r: rules::QueueRules) -> Self {
        Self {
            enabled: r.enabled,
            active_slots: r.active_slots,
            queue_ratio: r.queue_ratio,
            referral_ratio: r.referral_ratio,
            second_level_ratio: r.second_level_ratio,
            cap_multiple: r.cap_multiple,
            min_order_amount: r.min_order_amount,
        }
    }
}

#[derive(SimpleObject)]
pub struct RebateRules {
    pub enabled: bool,
    pub rebate_rate: Decimal,
    pub point_value: Decimal,
    pub points_expiry_days: i32,
    pub max_deduction_ratio: Decimal,
}

impl From<rules::RebateRules> for RebateRules {
    fn from(r: rules::RebateRules) -> Self {
        Self {
            enabled: r.enabled,
            rebate_rate: r.rebate_rate,
            point_value: r.point_value,
            points_expiry_days: r.points_expiry_days,
            max_deduction_ratio: r.max_deduction_ratio,
        }
    }
}

#[derive(SimpleObject)]
pub struct ValueAddedRules {
    pub enabled: bool,
    pub pool_ratio: Decimal,
    pub mint_ratio: Decimal,
    pub initial_price: Decimal,
    pub redeem_fee_ratio: Decimal,
    pub exit_threshold: Decimal,
    pub exit_portion: Decimal,
}

impl From<rules::ValueAddedRules> for ValueAddedRules {
    fn from(r: rules::ValueAddedRules) -> Self {
        Self {
            enabled: r.enabled,
            pool_ratio: r.pool_ratio,
            mint_ratio: r.mint_ratio,
            initial_price: r.initial_price,
            redeem_fee_ratio: r.redeem_fee_ratio,
            exit_threshold: r.exit_threshold,
            exit_portion: r.exit_portion,
        }
    }
}

#[derive(SimpleObject)]
pub struct WithdrawalRules {
    pub min_withdrawal: Decimal,
    pub fee_ratio: Decimal,
    pub max_withdrawal: Decimal,
    pub transfer_scene_id: String,
}

impl From<rules::WithdrawalRules> for WithdrawalRules {
    fn from(r: rules::WithdrawalRules) -> Self {
        Self {
            min_withdrawal: r.min_withdrawal,
            fee_ratio: r.fee_ratio,
            max_withdrawal: r.max_withdrawal,
            transfer_scene_id: r.transfer_scene_id,
        }
    }
}

/// One version of a merchant's programs.
#[derive(SimpleObject)]
pub struct Programs {
    pub version: i32,
    pub queue: Option<QueueRules>,
    pub rebate: Option<RebateRules>,
    pub value_added: Option<ValueAddedRules>,
    pub withdrawal: Option<WithdrawalRules>,
    pub auto_complete_days: Option<i32>,
    pub max_payout_ratio: Decimal,
    /// What the enabled programs pay out per yuan at most (checked against maxPayoutRatio).
    pub payout_ratio: Decimal,
}

impl From<Versioned> for Programs {
    fn from(v: Versioned) -> Self {
        let payout_ratio = v.set.payout_ratio();
        Self {
            version: v.version,
            queue: v.set.queue.map(Into::into),
            rebate: v.set.rebate.map(Into::into),
            value_added: v.set.value_added.map(Into::into),
            withdrawal: v.set.withdrawal.map(Into::into),
            auto_complete_days: v.set.auto_complete_days,
            max_payout_ratio: v.set.max_payout_ratio,
            payout_ratio,
        }
    }
}
