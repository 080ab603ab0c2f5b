//! A whole queue in memory, driven by the same [`settle`](super::queue::settle): the
//! simulator (`simulateQueue`, `fenhong simulate`), the engine benchmark and the tests' replay
//! of a real run use it. Nothing here touches storage.

use std::collections::{HashMap, VecDeque};

use rust_decimal::Decimal;

use super::{
    money::floor4,
    programs::QueueRules,
    queue::{settle, ActiveEntry, Completion, Settlement},
};

/// The live entries in queue order, the pool, and how many entries have completed.
#[derive(Clone, Debug)]
pub struct QueueBook {
    pub rules: QueueRules,
    pub live: VecDeque<ActiveEntry>,
    pub pool: Decimal,
    pub completed: u64,
    next_id: i64,
}

impl QueueBook {
    pub fn new(rules: QueueRules) -> Self {
        Self {
            rules,
            live: VecDeque::new(),
            pool: Decimal::new(0, 2),
            completed: 0,
            next_id: 1,
        }
    }

    pub fn active(&self) -> Vec<ActiveEntry> {
        let n = usize::try_from(self.rules.active_slots.max(1)).unwrap_or(1);
        self.live.iter().take(n).copied().collect()
    }

    /// Completes one order: pays the active entries, updates the pool, appends the order's
    /// entry. Returns the settlement and the new entry's id (`None` below the minimum).
    pub fn complete(&mut self, order: Completion) -> Option<(Settlement, Option<i64>)> {
        let settlement = settle(&self.rules, &self.active(), self.pool, order)?;
        for share in &settlement.shares {
            if let Some(entry) = self.live.iter_mut().find(|e| e.id == share.entry_id) {
                entry.received += share.amount;
            }
        }
        // Only the active head was paid, so only it can have completed: no scan of the rest.
        let head = self.active().len();
        for index in (0..head).rev() {
            if self.live[index].received >= self.live[index].target {
                self.live.remove(index);
                self.completed += 1;
            }
        }
        self.pool = settlement.pool_after;
        let new_id = settlement.new_entry_target.map(|target| {
            let id = self.next_id;
            self.next_id += 1;
            self.live.push_back(ActiveEntry {
                id,
                target,
                received: Decimal::new(0, 2),
            });
            id
        });
        Some((settlement, new_id))
    }
}

/// One order of a simulation: who buys, how much, and who referred them (if anybody).
#[derive(Clone, Debug)]
pub struct SimOrder {
    pub user: String,
    pub amount: Decimal,
    pub referrer: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPayout {
    /// 1-based index of the order whose completion paid it.
    pub order: usize,
    /// Who received it (`pool` for what was carried to the pool).
    pub user: String,
    pub kind: &'static str,
    pub amount: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    pub payouts: Vec<SimPayout>,
    pub pool: Decimal,
    /// Orders whose entries received their target.
    pub completed_orders: u64,
    /// Orders whose entries are still in the queue (active or waiting).
    pub waiting_orders: u64,
    /// Everything paid to shoppers: queue shares and referral rewards.
    pub total_paid: Decimal,
    /// Total paid ÷ total order amount.
    pub payout_ratio: Decimal,
}

pub const MAX_SIMULATED_ORDERS: usize = 10_000;

/// Runs `orders` through the engine from an empty queue. A shopper's referrer is bound by
/// the first order that names one (as a membership binds once) and never to themselves.
pub fn simulate(rules: &QueueRules, orders: &[SimOrder]) -> Simulation {
    let mut book = QueueBook::new(rules.clone());
    let mut referrer_of: HashMap<&str, &str> = HashMap::new();
    let mut owner: HashMap<i64, &str> = HashMap::new();
    let mut payouts = Vec::new();
    let mut total_paid = Decimal::new(0, 2);
    let mut total_amount = Decimal::ZERO;
    for (index, order) in orders.iter().enumerate() {
        let number = index + 1;
        if let Some(referrer) = order.referrer.as_deref() {
            if referrer != order.user {
                referrer_of.entry(order.user.as_str()).or_insert(referrer);
            }
        }
        let first = referrer_of.get(order.user.as_str()).copied();
        let second = first.and_then(|r| referrer_of.get(r).copied());
        total_amount += order.amount;
        let completion = Completion {
            cash_base: order.amount,
            has_referrer: first.is_some(),
            has_second_referrer: second.is_some(),
        };
        let Some((settlement, new_id)) = book.complete(completion) else {
            continue;
        };
        let mut pay = |user: &str, kind: &'static str, amount: Decimal| {
            if amount > Decimal::ZERO {
                payouts.push(SimPayout {
                    order: number,
                    user: user.to_owned(),
                    kind,
                    amount,
                });
            }
        };
        if let Some(r) = first {
            pay(r, "REFERRAL", settlement.referral);
        }
        if let Some(r) = second {
            pay(r, "REFERRAL_SECOND_LEVEL", settlement.second_referral);
        }
        for share in &settlement.shares {
            pay(
                owner.get(&share.entry_id).copied().unwrap_or("?"),
                "QUEUE_SHARE",
                share.amount,
            );
        }
        let carried = settlement.pool_after;
        if carried > Decimal::ZERO {
            payouts.push(SimPayout {
                order: number,
                user: "pool".into(),
                kind: "POOL_CARRY",
                amount: carried,
            });
        }
        total_paid +=
            settlement.referral + settlement.second_referral + settlement.paid_to_entries();
        if let Some(id) = new_id {
            owner.insert(id, order.user.as_str());
        }
    }
    let payout_ratio = if total_amount > Decimal::ZERO {
        floor4(total_paid / total_amount)
    } else {
        Decimal::new(0, 4)
    };
    Simulation {
        payouts,
        pool: book.pool,
        completed_orders: book.completed,
        waiting_orders: book.live.len() as u64,
        total_paid,
        payout_ratio,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn rules() -> QueueRules {
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

    fn order(user: &str, amount: Decimal, referrer: Option<&str>) -> SimOrder {
        SimOrder {
            user: user.into(),
            amount,
            referrer: referrer.map(Into::into),
        }
    }

    /// RULES.md "A sequence from an empty queue", row by row.
    #[test]
    fn the_sequence_from_an_empty_queue() {
        let orders = [
            order("A", dec!(1000), None),
            order("B", dec!(1000), None),
            order("C", dec!(1000), None),
            order("D", dec!(600), None),
            order("E", dec!(1000), None),
            order("F", dec!(200), Some("P")),
            order("G", dec!(300), None),
        ];
        let expected_pools = [
            dec!(600.00),
            dec!(200.00),
            dec!(0.00),
            dec!(0.00),
            dec!(180.00),
            dec!(0.02),
            dec!(0.02),
        ];
        for (n, pool) in expected_pools.iter().enumerate() {
            assert_eq!(
                simulate(&rules(), &orders[..=n]).pool,
                *pool,
                "pool after order {}",
                n + 1
            );
        }
        let sim = simulate(&rules(), &orders);
        let paid: Vec<(usize, &str, &str, String)> = sim
            .payouts
            .iter()
            .filter(|p| p.kind != "POOL_CARRY")
            .map(|p| (p.order, p.user.as_str(), p.kind, p.amount.to_string()))
            .collect();
        assert_eq!(
            paid,
            [
                (2, "A", "QUEUE_SHARE", "1000.00".to_string()),
                (3, "B", "QUEUE_SHARE", "800.00".into()),
                (4, "B", "QUEUE_SHARE", "180.00".into()),
                (4, "C", "QUEUE_SHARE", "180.00".into()),
                (5, "B", "QUEUE_SHARE", "20.00".into()),
                (5, "C", "QUEUE_SHARE", "200.00".into()),
                (5, "D", "QUEUE_SHARE", "200.00".into()),
                (6, "P", "REFERRAL", "40.00".into()),
                (6, "C", "QUEUE_SHARE", "86.66".into()),
                (6, "D", "QUEUE_SHARE", "86.66".into()),
                (6, "E", "QUEUE_SHARE", "86.66".into()),
                (7, "C", "QUEUE_SHARE", "60.00".into()),
                (7, "D", "QUEUE_SHARE", "60.00".into()),
                (7, "E", "QUEUE_SHARE", "60.00".into()),
            ]
        );
        assert_eq!(sim.completed_orders, 2); // A and B
        assert_eq!(sim.waiting_orders, 5);
        // 5100 in, 60 % of it funded (3060.00): all paid but the 0.02 left in the pool.
        assert_eq!(sim.total_paid, dec!(3059.98));
        assert_eq!(sim.payout_ratio, dec!(0.5999));
    }
}
