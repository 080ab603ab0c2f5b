//! `fenhong simulate`: the queue simulator over a CSV of orders.

use std::fmt::Write;

use anyhow::{bail, Context};
use rust_decimal::Decimal;

use crate::rules::{
    money,
    programs::{ProgramSet, QueueRules},
    queue_book::{simulate, SimOrder, Simulation},
};

/// Reads `user,amount[,referrer]` lines (a header line starting with `user` is skipped).
pub fn parse_orders(csv: &str) -> anyhow::Result<Vec<SimOrder>> {
    let mut orders = Vec::new();
    for (n, line) in csv.lines().enumerate() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with('#')
            || (n == 0 && line.to_lowercase().starts_with("user"))
        {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() < 2 || fields[0].is_empty() {
            bail!("line {}: expected user,amount[,referrer]", n + 1);
        }
        let amount: Decimal = fields[1]
            .parse()
            .with_context(|| format!("line {}: amount", n + 1))?;
        let amount =
            money::money(amount, "amount").map_err(|e| anyhow::anyhow!("line {}: {e}", n + 1))?;
        let referrer = fields
            .get(2)
            .filter(|r| !r.is_empty())
            .map(|r| r.to_string());
        orders.push(SimOrder {
            user: fields[0].to_owned(),
            amount,
            referrer,
        });
    }
    Ok(orders)
}

pub fn run(rules: &QueueRules, csv: &str) -> anyhow::Result<(Simulation, String)> {
    ProgramSet {
        queue: Some(rules.clone()),
        ..Default::default()
    }
    .validate()
    .map_err(|e| anyhow::anyhow!(e))?;
    let orders = parse_orders(csv)?;
    let sim = simulate(rules, &orders);
    let total: Decimal = orders.iter().map(|o| o.amount).sum();
    let mut out = String::new();
    writeln!(out, "orders:            {}", orders.len())?;
    writeln!(out, "order amount:      {total}")?;
    writeln!(out, "orders completed:  {}", sim.completed_orders)?;
    writeln!(out, "still waiting:     {}", sim.waiting_orders)?;
    writeln!(out, "paid out:          {}", sim.total_paid)?;
    writeln!(out, "pool:              {}", sim.pool)?;
    writeln!(out, "payout ratio:      {}", sim.payout_ratio)?;
    Ok((sim, out))
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn the_rules_md_sequence_as_csv() {
        let rules = QueueRules {
            enabled: true,
            active_slots: 3,
            queue_ratio: dec!(0.40),
            referral_ratio: dec!(0.20),
            second_level_ratio: dec!(0),
            cap_multiple: dec!(1),
            min_order_amount: dec!(0),
        };
        let csv = "user,amount,referrer\nA,1000\nB,1000\nC,1000\nD,600\nE,1000\nF,200,P\nG,300\n";
        let (sim, text) = run(&rules, csv).unwrap();
        assert_eq!(sim.pool, dec!(0.02));
        assert!(text.contains("orders completed:  2"), "{text}");
        assert!(text.contains("still waiting:     5"), "{text}");
        assert!(text.contains("paid out:          3059.98"), "{text}");
        assert!(text.contains("payout ratio:      0.5999"), "{text}");
        assert!(parse_orders("A,1.001").is_err());
        assert!(parse_orders("A").is_err());
    }
}
