//! Value-added points (消费增值), RULES.md "Value-added points".
//!
//! The pool backs every point: `price = floor4(pool / supply)`, so `supply × price ≤ pool`.
//! A purchase adds cash to the pool and mints points at the price before it; a sale pays
//! `floor2(k × pool / supply)` less a fee that stays in the pool.

use rust_decimal::Decimal;

use super::{
    money::{floor2, floor4},
    programs::ValueAddedRules,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Cash in the pool (yuan, 2 places).
    pub cash: Decimal,
    /// Points in circulation (4 places).
    pub supply: Decimal,
}

impl Pool {
    pub fn price(&self, rules: &ValueAddedRules) -> Decimal {
        if self.supply > Decimal::ZERO {
            floor4(self.cash / self.supply)
        } else {
            let mut price = rules.initial_price;
            price.rescale(4);
            price
        }
    }

    /// What selling `points` grosses now: `floor2(points × pool / supply)`.
    pub fn gross_of(&self, points: Decimal) -> Decimal {
        if self.supply <= Decimal::ZERO {
            return Decimal::new(0, 2);
        }
        floor2(points * self.cash / self.supply)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mint {
    /// Cash the order adds to the pool.
    pub pool_in: Decimal,
    /// Points the shopper receives.
    pub points: Decimal,
    /// The price they were minted at (the price before the order).
    pub price: Decimal,
}

/// A completed order of cash base `amount`.
pub fn mint(rules: &ValueAddedRules, pool: Pool, amount: Decimal) -> Mint {
    let price = pool.price(rules);
    let pool_in = floor2(amount * rules.pool_ratio);
    let points = if price > Decimal::ZERO {
        floor4(amount * rules.mint_ratio / price)
    } else {
        Decimal::new(0, 4)
    };
    Mint {
        pool_in,
        points,
        price,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sale {
    pub points: Decimal,
    pub gross: Decimal,
    /// Stays in the pool.
    pub fee: Decimal,
    /// Paid to the shopper out of the pool.
    pub net: Decimal,
}

/// Selling `points` (the caller has checked the shopper holds them and `0 < points ≤ supply`).
pub fn sell(rules: &ValueAddedRules, pool: Pool, points: Decimal) -> Sale {
    let gross = pool.gross_of(points);
    let fee = floor2(gross * rules.redeem_fee_ratio);
    Sale {
        points,
        gross,
        fee,
        net: gross - fee,
    }
}

/// The points a forced exit sells after a mint: `floor4(holding × exitPortion)` once the
/// holding reaches `exitThreshold` (0 = never).
pub fn forced_exit(rules: &ValueAddedRules, holding: Decimal) -> Option<Decimal> {
    if rules.exit_threshold <= Decimal::ZERO || holding < rules.exit_threshold {
        return None;
    }
    let points = floor4(holding * rules.exit_portion);
    (points > Decimal::ZERO).then_some(points)
}

impl Pool {
    pub fn after_mint(self, mint: &Mint) -> Pool {
        Pool {
            cash: self.cash + mint.pool_in,
            supply: self.supply + mint.points,
        }
    }

    pub fn after_sale(self, sale: &Sale) -> Pool {
        Pool {
            cash: self.cash - sale.net,
            supply: self.supply - sale.points,
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    pub fn rules() -> ValueAddedRules {
        ValueAddedRules {
            enabled: true,
            pool_ratio: dec!(0.30),
            mint_ratio: dec!(0.70),
            initial_price: dec!(1.0000),
            redeem_fee_ratio: dec!(0.10),
            exit_threshold: dec!(0),
            exit_portion: dec!(0.50),
        }
    }

    #[test]
    fn the_rules_md_example() {
        let r = rules();
        let empty = Pool {
            cash: dec!(0.00),
            supply: dec!(0.0000),
        };
        let a = mint(&r, empty, dec!(100));
        assert_eq!(
            (a.points.to_string(), a.price.to_string()),
            ("70.0000".into(), "1.0000".into())
        );
        let pool = empty.after_mint(&a);
        assert_eq!(pool.cash, dec!(30.00));
        assert_eq!(pool.price(&r).to_string(), "0.4285");
        let b = mint(&r, pool, dec!(100));
        assert_eq!(
            (b.points.to_string(), b.price.to_string()),
            ("163.3605".into(), "0.4285".into())
        );
        let pool = pool.after_mint(&b);
        assert_eq!(pool.cash, dec!(60.00));
        assert_eq!(pool.price(&r).to_string(), "0.2571");
        let sale = sell(&r, pool, dec!(70));
        assert_eq!(
            (
                sale.gross.to_string(),
                sale.fee.to_string(),
                sale.net.to_string()
            ),
            ("17.99".into(), "1.79".into(), "16.20".into())
        );
        let pool = pool.after_sale(&sale);
        assert_eq!(pool.cash, dec!(43.80));
        assert_eq!(pool.price(&r).to_string(), "0.2681");
    }

    #[test]
    fn forced_exit_sells_a_portion_above_the_threshold() {
        let mut r = rules();
        assert_eq!(forced_exit(&r, dec!(1000)), None);
        r.exit_threshold = dec!(100);
        assert_eq!(forced_exit(&r, dec!(99.9999)), None);
        assert_eq!(forced_exit(&r, dec!(163.3605)), Some(dec!(81.6802)));
    }

    #[test]
    fn every_quoted_point_is_backed() {
        let r = rules();
        let pool = Pool {
            cash: dec!(43.80),
            supply: dec!(163.3605),
        };
        assert!(pool.supply * pool.price(&r) <= pool.cash);
        let all = sell(&r, pool, pool.supply);
        assert!(all.net <= pool.cash);
    }
}
