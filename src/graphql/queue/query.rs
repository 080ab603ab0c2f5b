use async_graphql::{Context, Object, Result, ID};

use super::types::{QueueEntry, QueueSimulation, SimulatedOrderInput, SimulatedPayout};
use crate::{
    auth::Principal,
    error::AppError,
    graphql::{context::ContextExt, orders::types::RewardKind, programs::types::QueueRulesInput},
    rules::{
        money,
        programs::{ProgramSet, QueueRules},
        queue_book::{simulate, SimOrder, MAX_SIMULATED_ORDERS},
    },
    services::{parse_id, queue},
};

#[derive(Default)]
pub struct QueueQuery;

#[Object]
impl QueueQuery {
    /// An entry of a queue: its owner or the merchant's staff.
    async fn queue_entry(&self, ctx: &Context<'_>, id: ID) -> Result<Option<QueueEntry>> {
        let principal = ctx.principal();
        principal.require_authenticated()?;
        let id = parse_id(&id, "queue entry")?;
        let entry = match queue::entry(&ctx.app().db, id).await {
            Ok(entry) => entry,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let allowed = match principal {
            Principal::Shopper { user_id } => user_id == entry.user_id,
            other => other.can_see_merchant_internals(entry.merchant_id),
        };
        if !allowed {
            return Err(AppError::forbidden("this queue entry is not yours").into());
        }
        Ok(Some(QueueEntry::from(entry)))
    }

    /// Staff: runs the queue engine over a list of orders from an empty queue, touching no
    /// data, to see what a program would pay, to whom, and how long the queue gets.
    async fn simulate_queue(
        &self,
        ctx: &Context<'_>,
        rules: QueueRulesInput,
        orders: Vec<SimulatedOrderInput>,
    ) -> Result<QueueSimulation> {
        match ctx.principal() {
            Principal::Staff { .. } | Principal::Admin { .. } => {}
            other => {
                other.require_authenticated()?;
                return Err(AppError::forbidden("only merchant staff may run simulations").into());
            }
        }
        let rules: QueueRules = rules.into();
        ProgramSet {
            queue: Some(rules.clone()),
            ..Default::default()
        }
        .validate()
        .map_err(AppError::InvalidInput)?;
        if orders.len() > MAX_SIMULATED_ORDERS {
            return Err(AppError::InvalidInput(format!(
                "at most {MAX_SIMULATED_ORDERS} orders per simulation"
            ))
            .into());
        }
        let mut sim_orders = Vec::with_capacity(orders.len());
        for (i, o) in orders.into_iter().enumerate() {
            let amount = money::money(o.amount, &format!("the amount of order {}", i + 1))
                .map_err(AppError::InvalidInput)?;
            if o.user.trim().is_empty() {
                return Err(AppError::invalid(format!("order {} has no user", i + 1)).into());
            }
            sim_orders.push(SimOrder {
                user: o.user,
                amount,
                referrer: o.referrer.filter(|r| !r.is_empty()),
            });
        }
        let sim = simulate(&rules, &sim_orders);
        Ok(QueueSimulation {
            payouts: sim
                .payouts
                .into_iter()
                .map(|p| SimulatedPayout {
                    order: i32::try_from(p.order).unwrap_or(i32::MAX),
                    user: p.user,
                    kind: RewardKind::parse(p.kind).unwrap_or(RewardKind::QueueShare),
                    amount: p.amount,
                })
                .collect(),
            pool: sim.pool,
            completed_orders: i32::try_from(sim.completed_orders).unwrap_or(i32::MAX),
            waiting_orders: i32::try_from(sim.waiting_orders).unwrap_or(i32::MAX),
            total_paid: sim.total_paid,
            payout_ratio: sim.payout_ratio,
        })
    }
}
