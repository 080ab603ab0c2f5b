use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use entity::va_price_point;
use rust_decimal::Decimal;

use crate::rules::{
    money::Unit,
    programs::ValueAddedRules,
    value_added::{Pool, Sale},
};

/// The value-added program's pool, points in circulation and price.
#[derive(SimpleObject)]
pub struct ValueAddedState {
    pub pool: Decimal,
    pub supply: Decimal,
    pub price: Decimal,
}

impl ValueAddedState {
    pub fn of(pool: Pool, rules: &ValueAddedRules) -> Self {
        let mut supply = pool.supply;
        supply.rescale(4);
        Self {
            pool: pool.cash,
            supply,
            price: pool.price(rules),
        }
    }
}

#[derive(SimpleObject)]
pub struct ValueAddedSale {
    pub points: Decimal,
    pub gross: Decimal,
    /// Stays in the pool.
    pub fee: Decimal,
    /// Credited to the shopper's cash.
    pub net: Decimal,
}

impl From<Sale> for ValueAddedSale {
    fn from(s: Sale) -> Self {
        Self {
            points: s.points,
            gross: s.gross,
            fee: s.fee,
            net: s.net,
        }
    }
}

/// One point of the price path: the state after a mint, sale, forced exit or injection.
#[derive(SimpleObject)]
pub struct ValueAddedPricePoint {
    pub at: DateTime<Utc>,
    pub price: Decimal,
    pub pool: Decimal,
    pub supply: Decimal,
    /// MINT, SALE, FORCED_EXIT or INJECTION.
    pub cause: String,
}

impl From<va_price_point::Model> for ValueAddedPricePoint {
    fn from(p: va_price_point::Model) -> Self {
        Self {
            at: p.at,
            price: Unit::VaPoints.from_minor(p.price),
            pool: Unit::Cny.from_minor(p.pool),
            supply: Unit::VaPoints.from_minor(p.supply),
            cause: p.cause,
        }
    }
}
