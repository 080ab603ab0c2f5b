//! The queue free-order engine (排队免单), RULES.md "Queue free-order program".
//!
//! [`settle`] is one completion: what the order's reward budget pays to the active entries,
//! to the referrers and to the pool, and the entry the order adds. Money is conserved:
//! `funding + pool before = Σ shares + referral rewards + pool after`, to the fen.

use rust_decimal::Decimal;

use super::{money::floor2, programs::QueueRules};

/// A live entry at the head of the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveEntry {
    pub id: i64,
    pub target: Decimal,
    pub received: Decimal,
}

impl ActiveEntry {
    pub fn left(&self) -> Decimal {
        self.target - self.received
    }
}

/// The completing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The reward base: the cash paid.
    pub cash_base: Decimal,
    pub has_referrer: bool,
    pub has_second_referrer: bool,
}

/// What an active entry receives from one completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub entry_id: i64,
    pub amount: Decimal,
    /// The entry reached its target and leaves the queue.
    pub completes: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// What the merchant allocates from this order: `floor2(A×q) + R1 + R2`.
    pub funding: Decimal,
    /// Split among the active entries: funding (less referral rewards paid) plus the pool.
    pub budget: Decimal,
    /// Paid to the referrer (0 without one).
    pub referral: Decimal,
    /// Paid to the referrer's referrer (0 without one).
    pub second_referral: Decimal,
    pub shares: Vec<Share>,
    /// The pool before this completion (all of it joined the budget).
    pub pool_before: Decimal,
    /// What the budget left over (rounding residue and capped surplus): the new pool.
    pub pool_after: Decimal,
    /// The target of the order's own new entry (`None` when it would be zero).
    pub new_entry_target: Option<Decimal>,
}

impl Settlement {
    pub fn paid_to_entries(&self) -> Decimal {
        self.shares.iter().map(|s| s.amount).sum()
    }
}

/// One completion. `active` are the first N live entries in queue order (before the order's
/// own entry joins); `None` if the order is below `minOrderAmount` (no queue effect at all).
pub fn settle(
    rules: &QueueRules,
    active: &[ActiveEntry],
    pool: Decimal,
    order: Completion,
) -> Option<Settlement> {
    let amount = order.cash_base;
    if amount < rules.min_order_amount || amount <= Decimal::ZERO {
        return None;
    }
    let queue_part = floor2(amount * rules.queue_ratio);
    let r1 = floor2(amount * rules.referral_ratio);
    let r2 = floor2(amount * rules.second_level_ratio);
    let mut budget = queue_part + pool;
    let referral = if order.has_referrer {
        r1
    } else {
        Decimal::ZERO
    };
    let second_referral = if order.has_referrer && order.has_second_referrer {
        r2
    } else {
        Decimal::ZERO
    };
    budget += (r1 - referral) + (r2 - second_referral);

    let mut shares = Vec::new();
    let mut paid = Decimal::ZERO;
    if !active.is_empty() {
        let share = floor2(budget / Decimal::from(active.len() as i64));
        for entry in active {
            let amount = share.min(entry.left()).max(Decimal::ZERO);
            if amount > Decimal::ZERO {
                shares.push(Share {
                    entry_id: entry.id,
                    amount,
                    completes: amount == entry.left(),
                });
                paid += amount;
            }
        }
    }
    let target = floor2(amount * rules.cap_multiple);
    Some(Settlement {
        funding: queue_part + r1 + r2,
        budget,
        referral,
        second_referral,
        shares,
        pool_before: pool,
        pool_after: budget - paid,
        new_entry_target: (target > Decimal::ZERO).then_some(target),
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    pub fn rules() -> QueueRules {
        QueueRules {
            enabled: true,
            active_slots: 3,
            queue_ratio: dec!(0.40),
            referral_ratio: dec!(0.20),
            second_level_ratio: dec!(0.00),
            cap_multiple: dec!(1.00),
            min_order_amount: dec!(0.00),
        }
    }

    fn order(amount: Decimal, has_referrer: bool) -> Completion {
        Completion {
            cash_base: amount,
            has_referrer,
            has_second_referrer: false,
        }
    }

    fn roomy(ids: &[i64]) -> Vec<ActiveEntry> {
        ids.iter()
            .map(|&id| ActiveEntry {
                id,
                target: dec!(10000.00),
                received: dec!(0.00),
            })
            .collect()
    }

    fn amounts(s: &Settlement) -> Vec<String> {
        s.shares.iter().map(|s| s.amount.to_string()).collect()
    }

    #[test]
    fn seed_example_d_without_a_referrer_splits_360() {
        let s = settle(
            &rules(),
            &roomy(&[1, 2, 3]),
            dec!(0),
            order(dec!(600), false),
        )
        .unwrap();
        assert_eq!(amounts(&s), ["120.00", "120.00", "120.00"]);
        assert_eq!(s.pool_after, dec!(0.00));
    }

    #[test]
    fn seed_example_d_with_a_referrer_splits_240() {
        let s = settle(
            &rules(),
            &roomy(&[1, 2, 3]),
            dec!(0),
            order(dec!(600), true),
        )
        .unwrap();
        assert_eq!(amounts(&s), ["80.00", "80.00", "80.00"]);
        assert_eq!(s.referral, dec!(120.00));
    }

    #[test]
    fn seed_example_e_leaves_a_fen_in_the_pool() {
        let s = settle(
            &rules(),
            &roomy(&[1, 2, 3]),
            dec!(0),
            order(dec!(1000), true),
        )
        .unwrap();
        assert_eq!(amounts(&s), ["133.33", "133.33", "133.33"]);
        assert_eq!(s.pool_after, dec!(0.01));
        assert_eq!(s.referral, dec!(200.00));
    }

    #[test]
    fn seed_example_f_pays_the_referrer_and_splits_80_plus_pool() {
        let s = settle(
            &rules(),
            &roomy(&[1, 2, 3]),
            dec!(0.01),
            order(dec!(200), true),
        )
        .unwrap();
        assert_eq!(s.referral, dec!(40.00));
        assert_eq!(s.budget, dec!(80.01));
        assert_eq!(amounts(&s), ["26.67", "26.67", "26.67"]);
        assert_eq!(s.pool_after, dec!(0.00));
    }

    #[test]
    fn seed_example_g_splits_180() {
        let s = settle(
            &rules(),
            &roomy(&[1, 2, 3]),
            dec!(0),
            order(dec!(300), false),
        )
        .unwrap();
        assert_eq!(amounts(&s), ["60.00", "60.00", "60.00"]);
    }

    #[test]
    fn an_empty_queue_puts_everything_in_the_pool() {
        let s = settle(&rules(), &[], dec!(0), order(dec!(1000), false)).unwrap();
        assert_eq!(s.pool_after, dec!(600.00));
        assert!(s.shares.is_empty());
        assert_eq!(s.new_entry_target, Some(dec!(1000.00)));
    }

    #[test]
    fn caps_complete_entries_and_surplus_goes_to_the_pool() {
        let active = [ActiveEntry {
            id: 1,
            target: dec!(1000.00),
            received: dec!(0.00),
        }];
        let s = settle(&rules(), &active, dec!(600.00), order(dec!(1000), false)).unwrap();
        assert_eq!(
            s.shares,
            [Share {
                entry_id: 1,
                amount: dec!(1000.00),
                completes: true
            }]
        );
        assert_eq!(s.pool_after, dec!(200.00));
    }

    #[test]
    fn a_cap_multiple_of_one_and_a_half() {
        let mut r = rules();
        r.cap_multiple = dec!(1.5);
        let s = settle(&r, &[], dec!(0), order(dec!(333.33), false)).unwrap();
        assert_eq!(s.new_entry_target, Some(dec!(499.99)));
    }

    #[test]
    fn orders_below_the_minimum_have_no_queue_effect() {
        let mut r = rules();
        r.min_order_amount = dec!(50.00);
        assert_eq!(
            settle(&r, &roomy(&[1]), dec!(5), order(dec!(49.99), true)),
            None
        );
        assert!(settle(&r, &roomy(&[1]), dec!(5), order(dec!(50.00), true)).is_some());
    }

    #[test]
    fn two_levels_of_referral() {
        let mut r = rules();
        r.referral_ratio = dec!(0.15);
        r.second_level_ratio = dec!(0.05);
        let two = Completion {
            cash_base: dec!(1000),
            has_referrer: true,
            has_second_referrer: true,
        };
        let s = settle(&r, &roomy(&[1, 2]), dec!(0), two).unwrap();
        assert_eq!((s.referral, s.second_referral), (dec!(150.00), dec!(50.00)));
        assert_eq!(amounts(&s), ["200.00", "200.00"]);
        // Without a second level, its part joins the budget.
        let one = Completion {
            cash_base: dec!(1000),
            has_referrer: true,
            has_second_referrer: false,
        };
        let s = settle(&r, &roomy(&[1, 2]), dec!(0), one).unwrap();
        assert_eq!((s.referral, s.second_referral), (dec!(150.00), dec!(0)));
        assert_eq!(amounts(&s), ["225.00", "225.00"]);
    }
}
