//! A merchant's reward programs (one version), their defaults, checks and the guardrail.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use super::money::{money, money_or_zero, ratio};

/// Queue free-order (排队免单), RULES.md "Queue free-order program".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueRules {
    pub enabled: bool,
    pub active_slots: i32,
    pub queue_ratio: Decimal,
    pub referral_ratio: Decimal,
    pub second_level_ratio: Decimal,
    pub cap_multiple: Decimal,
    pub min_order_amount: Decimal,
}

/// Consumption rebate points (返利积分).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RebateRules {
    pub enabled: bool,
    /// Points per yuan of cash paid.
    pub rebate_rate: Decimal,
    /// Yuan per point when paying with points.
    pub point_value: Decimal,
    /// 0 = points never expire.
    pub points_expiry_days: i32,
    pub max_deduction_ratio: Decimal,
}

/// Value-added points (消费增值).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueAddedRules {
    pub enabled: bool,
    pub pool_ratio: Decimal,
    pub mint_ratio: Decimal,
    pub initial_price: Decimal,
    pub redeem_fee_ratio: Decimal,
    pub exit_threshold: Decimal,
    pub exit_portion: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WithdrawalRules {
    pub min_withdrawal: Decimal,
    pub fee_ratio: Decimal,
    /// The largest single request.
    #[serde(default = "default_max_withdrawal")]
    pub max_withdrawal: Decimal,
    /// The WeChat Pay transfer scene withdrawals are paid under (`1000`: 现金营销).
    #[serde(default = "default_transfer_scene_id")]
    pub transfer_scene_id: String,
}

fn default_max_withdrawal() -> Decimal {
    dec!(200.00)
}

fn default_transfer_scene_id() -> String {
    "1000".into()
}

impl Default for WithdrawalRules {
    fn default() -> Self {
        Self {
            min_withdrawal: dec!(10.00),
            fee_ratio: dec!(0.00),
            max_withdrawal: default_max_withdrawal(),
            transfer_scene_id: default_transfer_scene_id(),
        }
    }
}

pub const DEFAULT_AUTO_COMPLETE_DAYS: i32 = 7;

/// One version of everything a merchant has configured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgramSet {
    pub queue: Option<QueueRules>,
    pub rebate: Option<RebateRules>,
    pub value_added: Option<ValueAddedRules>,
    pub withdrawal: Option<WithdrawalRules>,
    pub auto_complete_days: Option<i32>,
    pub max_payout_ratio: Decimal,
}

impl Default for ProgramSet {
    fn default() -> Self {
        Self {
            queue: None,
            rebate: None,
            value_added: None,
            withdrawal: None,
            auto_complete_days: None,
            max_payout_ratio: dec!(1.00),
        }
    }
}

impl ProgramSet {
    pub fn withdrawal_rules(&self) -> WithdrawalRules {
        self.withdrawal.clone().unwrap_or_default()
    }

    pub fn auto_complete_days(&self) -> i32 {
        self.auto_complete_days
            .unwrap_or(DEFAULT_AUTO_COMPLETE_DAYS)
    }

    /// The rebate rules in force for earning, if the program is on.
    pub fn active_rebate(&self) -> Option<&RebateRules> {
        self.rebate.as_ref().filter(|r| r.enabled)
    }

    /// What the enabled programs pay out per yuan of an order at most (RULES.md "Guardrail").
    pub fn payout_ratio(&self) -> Decimal {
        let mut total = Decimal::ZERO;
        if let Some(q) = self.queue.as_ref().filter(|q| q.enabled) {
            total += q.queue_ratio + q.referral_ratio + q.second_level_ratio;
        }
        if let Some(r) = self.active_rebate() {
            total += r.rebate_rate * r.point_value;
        }
        if let Some(v) = self.value_added.as_ref().filter(|v| v.enabled) {
            total += v.pool_ratio;
        }
        total
    }

    /// Checks every field and the guardrail.
    pub fn validate(&self) -> Result<(), String> {
        ratio(self.max_payout_ratio, "maxPayoutRatio")?;
        if let Some(q) = &self.queue {
            if !(1..=1000).contains(&q.active_slots) {
                return Err("activeSlots must be between 1 and 1000".into());
            }
            ratio(q.queue_ratio, "queueRatio")?;
            ratio(q.referral_ratio, "referralRatio")?;
            ratio(q.second_level_ratio, "secondLevelRatio")?;
            if q.cap_multiple <= Decimal::ZERO || q.cap_multiple > dec!(10) {
                return Err("capMultiple must be above 0 and at most 10".into());
            }
            if q.cap_multiple.normalize().scale() > 4 {
                return Err("capMultiple has more than 4 decimal places".into());
            }
            money_or_zero(q.min_order_amount, "minOrderAmount")?;
        }
        if let Some(r) = &self.rebate {
            ratio(r.rebate_rate, "rebateRate")?;
            money(r.point_value, "pointValue")?;
            if !(0..=3650).contains(&r.points_expiry_days) {
                return Err("pointsExpiryDays must be between 0 (never) and 3650".into());
            }
            ratio(r.max_deduction_ratio, "maxDeductionRatio")?;
        }
        if let Some(v) = &self.value_added {
            ratio(v.pool_ratio, "poolRatio")?;
            ratio(v.mint_ratio, "mintRatio")?;
            if v.initial_price <= Decimal::ZERO || v.initial_price.normalize().scale() > 4 {
                return Err("initialPrice must be above 0 with at most 4 decimal places".into());
            }
            ratio(v.redeem_fee_ratio, "redeemFeeRatio")?;
            if v.exit_threshold < Decimal::ZERO || v.exit_threshold.normalize().scale() > 4 {
                return Err(
                    "exitThreshold must be 0 (off) or more, with at most 4 decimal places".into(),
                );
            }
            ratio(v.exit_portion, "exitPortion")?;
        }
        if let Some(w) = &self.withdrawal {
            money_or_zero(w.min_withdrawal, "minWithdrawal")?;
            ratio(w.fee_ratio, "feeRatio")?;
            money_or_zero(w.max_withdrawal, "maxWithdrawal")?;
            if w.max_withdrawal < w.min_withdrawal {
                return Err("maxWithdrawal must not be below minWithdrawal".into());
            }
            if w.transfer_scene_id.is_empty()
                || w.transfer_scene_id.len() > 32
                || !w.transfer_scene_id.chars().all(|c| c.is_ascii_digit())
            {
                return Err("transferSceneId is the digits of a WeChat Pay transfer scene".into());
            }
        }
        if let Some(days) = self.auto_complete_days {
            if !(0..=365).contains(&days) {
                return Err("autoCompleteDays must be between 0 and 365".into());
            }
        }
        let payout = self.payout_ratio();
        if payout > self.max_payout_ratio {
            return Err(format!(
                "these programs pay out up to {payout} of every order, more than maxPayoutRatio {}",
                self.max_payout_ratio
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(q: Decimal, r1: Decimal) -> QueueRules {
        QueueRules {
            enabled: true,
            active_slots: 3,
            queue_ratio: q,
            referral_ratio: r1,
            second_level_ratio: Decimal::ZERO,
            cap_multiple: Decimal::ONE,
            min_order_amount: Decimal::ZERO,
        }
    }

    fn rebate(rate: Decimal) -> RebateRules {
        RebateRules {
            enabled: true,
            rebate_rate: rate,
            point_value: dec!(1.00),
            points_expiry_days: 365,
            max_deduction_ratio: dec!(0.50),
        }
    }

    #[test]
    fn the_guardrail_adds_every_enabled_program() {
        let mut set = ProgramSet {
            queue: Some(queue(dec!(0.40), dec!(0.20))),
            rebate: Some(rebate(dec!(0.05))),
            ..Default::default()
        };
        assert_eq!(set.payout_ratio(), dec!(0.65));
        assert!(set.validate().is_ok());
        set.queue = Some(queue(dec!(0.80), dec!(0.20)));
        assert!(set.validate().unwrap_err().contains("maxPayoutRatio"));
        // A program switched off pays nothing and does not count.
        set.rebate.as_mut().unwrap().enabled = false;
        assert!(set.validate().is_ok());
        set.max_payout_ratio = dec!(0.90);
        assert!(set.validate().is_err());
    }

    #[test]
    fn ratios_outside_zero_to_one_are_refused() {
        let set = ProgramSet {
            queue: Some(queue(dec!(1.2), dec!(0))),
            ..Default::default()
        };
        assert!(set.validate().unwrap_err().contains("queueRatio"));
        let set = ProgramSet {
            rebate: Some(rebate(dec!(-0.1))),
            ..Default::default()
        };
        assert!(set.validate().unwrap_err().contains("rebateRate"));
    }
}
