//! Consumption rebate points (RULES.md "Consumption rebate").

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::{money::floor0, programs::RebateRules};

/// Points an order earns on completion: `floor(cash base × rebateRate)`.
pub fn points_earned(cash_base: Decimal, rules: &RebateRules) -> i64 {
    floor0(cash_base * rules.rebate_rate).max(0)
}

/// When points earned at `now` expire; `None` when they never do.
pub fn expiry(now: DateTime<Utc>, rules: &RebateRules) -> Option<DateTime<Utc>> {
    (rules.points_expiry_days > 0).then(|| now + Duration::days(rules.points_expiry_days.into()))
}

/// The most points an order of `amount` may be paid with:
/// `points × pointValue ≤ maxDeductionRatio × amount`.
pub fn max_points_usable(amount: Decimal, rules: &RebateRules) -> i64 {
    if rules.point_value <= Decimal::ZERO {
        return 0;
    }
    floor0(rules.max_deduction_ratio * amount / rules.point_value).max(0)
}

/// The yuan that `points` pay for.
pub fn value_of(points: i64, rules: &RebateRules) -> Decimal {
    Decimal::from(points) * rules.point_value
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lot {
    pub id: i64,
    pub remaining: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Takes `points` from live lots, earliest-expiring first (never-expiring lots last, then
/// oldest first). `None` if the lots hold fewer points.
pub fn take_fifo(lots: &[Lot], points: i64) -> Option<Vec<(i64, i64)>> {
    let mut ordered: Vec<&Lot> = lots.iter().filter(|l| l.remaining > 0).collect();
    ordered.sort_by_key(|l| (l.expires_at.is_none(), l.expires_at, l.id));
    let mut left = points;
    let mut takes = Vec::new();
    for lot in ordered {
        if left == 0 {
            break;
        }
        let take = lot.remaining.min(left);
        takes.push((lot.id, take));
        left -= take;
    }
    (left == 0).then_some(takes)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    use super::*;

    fn rules() -> RebateRules {
        RebateRules {
            enabled: true,
            rebate_rate: dec!(0.05),
            point_value: dec!(1.00),
            points_expiry_days: 365,
            max_deduction_ratio: dec!(0.50),
        }
    }

    #[test]
    fn five_points_per_hundred_yuan_rounded_down() {
        assert_eq!(points_earned(dec!(100.00), &rules()), 5);
        assert_eq!(points_earned(dec!(99.00), &rules()), 4);
        assert_eq!(points_earned(dec!(19.99), &rules()), 0);
        assert_eq!(points_earned(dec!(1000), &rules()), 50);
    }

    #[test]
    fn the_deduction_cap_is_half_the_order() {
        assert_eq!(max_points_usable(dec!(100.00), &rules()), 50);
        assert_eq!(max_points_usable(dec!(99.99), &rules()), 49);
        let mut r = rules();
        r.point_value = dec!(0.10);
        assert_eq!(max_points_usable(dec!(100.00), &r), 500);
    }

    #[test]
    fn lots_are_spent_earliest_expiring_first() {
        let day = |d| Some(Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap());
        let lots = [
            Lot {
                id: 1,
                remaining: 10,
                expires_at: None,
            },
            Lot {
                id: 2,
                remaining: 5,
                expires_at: day(20),
            },
            Lot {
                id: 3,
                remaining: 5,
                expires_at: day(10),
            },
            Lot {
                id: 4,
                remaining: 0,
                expires_at: day(1),
            },
        ];
        assert_eq!(take_fifo(&lots, 7), Some(vec![(3, 5), (2, 2)]));
        assert_eq!(take_fifo(&lots, 20), Some(vec![(3, 5), (2, 5), (1, 10)]));
        assert_eq!(take_fifo(&lots, 21), None);
        assert_eq!(take_fifo(&lots, 0), Some(vec![]));
    }

    #[test]
    fn expiry_is_days_after_completion_or_never() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
        assert_eq!(expiry(now, &rules()), Some(now + Duration::days(365)));
        let mut r = rules();
        r.points_expiry_days = 0;
        assert_eq!(expiry(now, &r), None);
    }
}
