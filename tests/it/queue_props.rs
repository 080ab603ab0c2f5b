//! Properties of the queue engine over random programs and order streams, checked against a
//! small model written here in whole fen, independently of the engine's code.

use fenhong::rules::{money::Unit, programs::QueueRules, queue::Completion, queue_book::QueueBook};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The model: entries as (id, target, received) in fen; integer division is floor for the
/// non-negative amounts here.
struct Model {
    slots: usize,
    q: i64, // ratios in basis points (1/10000)
    r1: i64,
    r2: i64,
    cap: i64,
    min: i64,
    live: Vec<(i64, i64, i64)>,
    pool: i64,
    next: i64,
}

impl Model {
    /// Returns (funding, paid to entries, referral paid) for one order.
    fn complete(&mut self, fen: i64, referrer: bool, second: bool) -> Option<(i64, i64, i64)> {
        if fen < self.min {
            return None;
        }
        let part = |bp: i64| fen * bp / 10_000;
        let (qa, r1, r2) = (part(self.q), part(self.r1), part(self.r2));
        let mut budget = qa + self.pool;
        let mut referral = 0;
        if referrer {
            referral += r1;
        } else {
            budget += r1;
        }
        if referrer && second {
            referral += r2;
        } else {
            budget += r2;
        }
        let n = self.live.len().min(self.slots);
        let mut paid = 0;
        if n > 0 {
            let share = budget / n as i64;
            for entry in self.live.iter_mut().take(n) {
                let pay = share.min(entry.1 - entry.2);
                entry.2 += pay;
                paid += pay;
            }
        }
        self.live.retain(|e| e.2 < e.1);
        self.pool = budget - paid;
        let target = fen * self.cap / 10_000;
        if target > 0 {
            self.live.push((self.next, target, 0));
            self.next += 1;
        }
        Some((qa + r1 + r2, paid, referral))
    }
}

fn bp(d: i64) -> Decimal {
    Decimal::new(d, 4)
}

prop_compose! {
    fn program()(slots in 1usize..6, q in 0i64..=6000, r1 in 0i64..=3000, r2 in 0i64..=1000,
                 cap in 5000i64..=20_000, min in prop_oneof![Just(0i64), 0i64..20_000])
                -> (usize, i64, i64, i64, i64, i64) {
        (slots, q, r1, r2, cap, min)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_conserves_money_and_agrees_with_the_model(
        (slots, q, r1, r2, cap, min) in program(),
        orders in proptest::collection::vec((1i64..500_000, any::<bool>(), any::<bool>()), 1..120),
    ) {
        let rules = QueueRules {
            enabled: true,
            active_slots: slots as i32,
            queue_ratio: bp(q),
            referral_ratio: bp(r1),
            second_level_ratio: bp(r2),
            cap_multiple: bp(cap),
            min_order_amount: Unit::Cny.from_minor(min),
        };
        let mut book = QueueBook::new(rules);
        let mut model = Model { slots, q, r1, r2, cap, min, live: Vec::new(), pool: 0, next: 1 };
        let (mut funded, mut paid_out) = (Decimal::ZERO, Decimal::ZERO);
        let mut received: std::collections::HashMap<i64, (Decimal, Decimal)> = Default::default();
        for (fen, referrer, second) in orders {
            let amount = Unit::Cny.from_minor(fen);
            let order = Completion { cash_base: amount, has_referrer: referrer, has_second_referrer: second };
            let active: Vec<i64> = book.active().iter().map(|e| e.id).collect();
            let real = book.complete(order);
            let expected = model.complete(fen, referrer, second);
            prop_assert_eq!(real.is_some(), expected.is_some());
            let Some((settlement, new_id)) = real else { continue };
            let (funding, paid, referral) = expected.unwrap();
            prop_assert_eq!(settlement.funding, Unit::Cny.from_minor(funding));
            prop_assert_eq!(settlement.paid_to_entries(), Unit::Cny.from_minor(paid));
            prop_assert_eq!(settlement.referral + settlement.second_referral, Unit::Cny.from_minor(referral));
            prop_assert_eq!(book.pool, Unit::Cny.from_minor(model.pool));
            // Money in = money out + what waits in the pool.
            funded += settlement.funding;
            paid_out += settlement.paid_to_entries() + settlement.referral + settlement.second_referral;
            prop_assert_eq!(funded, paid_out + book.pool);
            prop_assert!(book.pool >= Decimal::ZERO);
            for share in &settlement.shares {
                let e = received.get_mut(&share.entry_id).unwrap();
                e.1 += share.amount;
                prop_assert!(e.1 <= e.0, "an entry received more than its target");
                // Only the first N live entries are paid (and so only they complete).
                prop_assert!(active.contains(&share.entry_id), "a waiting entry was paid");
                if share.completes {
                    prop_assert_eq!(e.1, e.0);
                }
            }
            if let Some(id) = new_id {
                received.insert(id, (book.live.back().unwrap().target, Decimal::ZERO));
            }
            let live: Vec<(i64, Decimal, Decimal)> = book.live.iter().map(|e| (e.id, e.target, e.received)).collect();
            let modelled: Vec<(i64, Decimal, Decimal)> = model
                .live
                .iter()
                .map(|e| (e.0, Unit::Cny.from_minor(e.1), Unit::Cny.from_minor(e.2)))
                .collect();
            prop_assert_eq!(live, modelled);
        }
    }
}
