//! Units, rounding and the validation of amounts (RULES.md "Units and rounding").

use rust_decimal::{prelude::ToPrimitive, Decimal, RoundingStrategy};

/// The largest amount accepted anywhere: 1,000,000.00 yuan.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(100_000_000, 0, 0, false, 2);

/// The units the ledger keeps, each with its fixed number of decimal places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Yuan, to the fen.
    Cny,
    /// Whole rebate points.
    Points,
    /// Value-added points, to 1/10000.
    VaPoints,
}

impl Unit {
    pub const ALL: [Unit; 3] = [Unit::Cny, Unit::Points, Unit::VaPoints];

    pub fn scale(self) -> u32 {
        match self {
            Self::Cny => 2,
            Self::Points => 0,
            Self::VaPoints => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cny => "CNY",
            Self::Points => "POINTS",
            Self::VaPoints => "VA_POINTS",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// The whole number of minor units (fen, points, 1/10000 points) of an amount that has
    /// at most this unit's places. `None` if it has more, or does not fit.
    pub fn to_minor(self, amount: Decimal) -> Option<i64> {
        let scaled = amount * Decimal::from(10i64.pow(self.scale()));
        if scaled.fract() != Decimal::ZERO {
            return None;
        }
        scaled.to_i64()
    }

    /// An amount from minor units, with exactly this unit's places (`"133.30"`).
    pub fn from_minor(self, minor: i64) -> Decimal {
        Decimal::new(minor, self.scale())
    }
}

fn floor_dp(value: Decimal, places: u32) -> Decimal {
    let mut floored = value.round_dp_with_strategy(places, RoundingStrategy::ToNegativeInfinity);
    floored.rescale(places);
    floored
}

/// Rounds down to the fen.
pub fn floor2(value: Decimal) -> Decimal {
    floor_dp(value, 2)
}

/// Rounds down to 1/10000.
pub fn floor4(value: Decimal) -> Decimal {
    floor_dp(value, 4)
}

/// Rounds down to a whole number.
pub fn floor0(value: Decimal) -> i64 {
    floor_dp(value, 0).to_i64().unwrap_or(i64::MAX)
}

/// Checks an amount of money given by a client: positive, at most two decimals, at most
/// 1,000,000.00. Returns it with exactly two places.
pub fn money(value: Decimal, what: &str) -> Result<Decimal, String> {
    if value.normalize().scale() > 2 {
        return Err(format!("{what} has more than 2 decimal places"));
    }
    if value <= Decimal::ZERO {
        return Err(format!("{what} must be greater than zero"));
    }
    if value > MAX_AMOUNT {
        return Err(format!("{what} must not exceed 1000000.00"));
    }
    let mut exact = value;
    exact.rescale(2);
    Ok(exact)
}

/// As [`money`], but zero is allowed (a minimum, a threshold).
pub fn money_or_zero(value: Decimal, what: &str) -> Result<Decimal, String> {
    if value.is_zero() {
        return Ok(Decimal::new(0, 2));
    }
    money(value, what)
}

/// Checks a ratio: between 0 and 1 inclusive, at most 4 decimals.
pub fn ratio(value: Decimal, what: &str) -> Result<Decimal, String> {
    if value < Decimal::ZERO || value > Decimal::ONE {
        return Err(format!("{what} must be between 0 and 1"));
    }
    if value.normalize().scale() > 4 {
        return Err(format!("{what} has more than 4 decimal places"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn floors_round_down_and_keep_places() {
        assert_eq!(floor2(dec!(133.333)).to_string(), "133.33");
        assert_eq!(floor2(dec!(80)).to_string(), "80.00");
        assert_eq!(floor4(dec!(163.36054)).to_string(), "163.3605");
        assert_eq!(floor0(dec!(4.95)), 4);
    }

    #[test]
    fn amounts_are_checked_as_rules_md_says() {
        assert_eq!(money(dec!(99), "amount").unwrap().to_string(), "99.00");
        assert_eq!(
            money(dec!(1000000.00), "amount").unwrap().to_string(),
            "1000000.00"
        );
        assert_eq!(money(dec!(0.010), "amount").unwrap().to_string(), "0.01");
        for bad in [
            dec!(0),
            dec!(-1),
            dec!(0.001),
            dec!(1000000.01),
            dec!(12.345),
        ] {
            assert!(money(bad, "amount").is_err(), "{bad}");
        }
    }

    #[test]
    fn minor_units_round_trip_exactly() {
        assert_eq!(Unit::Cny.to_minor(dec!(133.33)), Some(13333));
        assert_eq!(Unit::Cny.to_minor(dec!(0.001)), None);
        assert_eq!(Unit::VaPoints.to_minor(dec!(163.3605)), Some(1633605));
        assert_eq!(Unit::Cny.from_minor(13330).to_string(), "133.30");
        assert_eq!(Unit::Points.from_minor(4).to_string(), "4");
    }
}
