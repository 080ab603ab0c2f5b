//! Property: over random sequences of orders, point payments, refunds, completions,
//! withdrawals, reviews and the passing of days, the ledger balances, no shopper balance is
//! negative, and every balance equals a small independent model of the same sequence.

use chrono::Duration;
use fenhong::{
    auth::wechat::WechatIdentity,
    clock::Clock,
    error::AppError,
    rules::money::Unit,
    services::{accounts, members, merchants, orders, programs, sweeps, wallet, withdrawals},
};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::helpers::*;

const USERS: usize = 3;
const EXPIRY_DAYS: i64 = 30;
const AUTO_COMPLETE_DAYS: i64 = 7;

#[derive(Clone, Debug)]
enum Op {
    Order {
        user: usize,
        fen: i64,
        points: i64,
        complete: bool,
    },
    Complete(usize),
    Refund(usize),
    Credit {
        user: usize,
        fen: i64,
    },
    Withdraw {
        user: usize,
        fen: i64,
    },
    Review {
        pick: usize,
        approve: bool,
    },
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..USERS, 100i64..300_000, prop_oneof![Just(0i64), 0i64..80], any::<bool>())
            .prop_map(|(user, fen, points, complete)| Op::Order { user, fen, points, complete }),
        2 => (0usize..64).prop_map(Op::Complete),
        1 => (0usize..64).prop_map(Op::Refund),
        1 => (0..USERS, 1i64..20_000).prop_map(|(user, fen)| Op::Credit { user, fen }),
        2 => (0..USERS, 500i64..8_000).prop_map(|(user, fen)| Op::Withdraw { user, fen }),
        2 => (0usize..64, any::<bool>()).prop_map(|(pick, approve)| Op::Review { pick, approve }),
        1 => (1i64..20).prop_map(Op::Advance),
    ]
}

/// (user, cash paid in fen, status, points taken per lot, created on day)
type ModelOrder = (usize, i64, &'static str, Vec<(usize, i64)>, i64);

/// The model: plain numbers, written from RULES.md without the service code.
#[derive(Default)]
struct Model {
    day: i64,
    cash: [i64; USERS],
    hold: [i64; USERS],
    /// (user, remaining, expires on day)
    lots: Vec<(usize, i64, i64)>,
    orders: Vec<ModelOrder>,
    /// (user, fen, pending)
    withdrawals: Vec<(usize, i64, bool)>,
}

impl Model {
    fn points(&self, user: usize) -> i64 {
        self.lots.iter().filter(|l| l.0 == user).map(|l| l.1).sum()
    }

    fn expire(&mut self, user: Option<usize>) {
        let day = self.day;
        for lot in self
            .lots
            .iter_mut()
            .filter(|l| user.is_none_or(|u| l.0 == u))
        {
            if lot.2 <= day {
                lot.1 = 0;
            }
        }
    }

    fn complete(&mut self, i: usize) -> bool {
        if self.orders[i].2 != "PAID" {
            return false;
        }
        self.orders[i].2 = "COMPLETED";
        let earned = self.orders[i].1 * 5 / 10_000; // floor(cash × 0.05), cash in fen
        if earned > 0 {
            self.lots
                .push((self.orders[i].0, earned, self.day + EXPIRY_DAYS));
        }
        true
    }

    /// `Ok(index)` of the new order, `Err(code)` when the rules refuse it.
    fn order(
        &mut self,
        user: usize,
        fen: i64,
        points: i64,
        complete: bool,
    ) -> Result<usize, &'static str> {
        if points * 100 > fen / 2 {
            return Err("INVALID_INPUT");
        }
        if points > 0 {
            self.expire(Some(user));
            if self.points(user) < points {
                return Err("INSUFFICIENT_FUNDS");
            }
        }
        let mut order_lots: Vec<usize> = (0..self.lots.len())
            .filter(|i| self.lots[*i].0 == user && self.lots[*i].1 > 0)
            .collect();
        order_lots.sort_by_key(|i| (self.lots[*i].2, *i));
        let mut left = points;
        let mut taken = Vec::new();
        for i in order_lots {
            if left == 0 {
                break;
            }
            let take = self.lots[i].1.min(left);
            self.lots[i].1 -= take;
            left -= take;
            taken.push((i, take));
        }
        self.orders
            .push((user, fen - points * 100, "PAID", taken, self.day));
        let index = self.orders.len() - 1;
        if complete {
            self.complete(index);
        }
        Ok(index)
    }
}

fn code(err: &AppError) -> &'static str {
    err.code()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 50, ..ProptestConfig::default() })]

    #[test]
    fn ledger_matches_a_simple_model(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}

async fn run(ops: Vec<Op>) {
    let t = TestApp::new().await;
    let db = &t.app.state.db;
    let now = || t.clock.now();
    let (merchant, _) =
        merchants::create_merchant(db, "Prop", None, &unique("prop"), PASSWORD, now())
            .await
            .unwrap();
    let store = merchants::create_store(db, &t.app.state.scenes, merchant.id, "Main", now())
        .await
        .unwrap();
    let scene = merchants::store_code(db, store.id).await.unwrap().scene;
    let mut users = Vec::new();
    for i in 0..USERS {
        let identity = WechatIdentity {
            openid: format!("prop-{i}"),
            unionid: None,
        };
        let user = accounts::shopper_for(db, &identity, now()).await.unwrap();
        members::join_by_scene(db, &t.app.state.scenes, user.id, &scene, now())
            .await
            .unwrap();
        users.push(user.id);
    }
    let patch = programs::ProgramsPatch {
        rebate: Some(fenhong::rules::programs::RebateRules {
            enabled: true,
            rebate_rate: "0.05".parse().unwrap(),
            point_value: "1.00".parse().unwrap(),
            points_expiry_days: EXPIRY_DAYS as i32,
            max_deduction_ratio: "0.50".parse().unwrap(),
        }),
        auto_complete_days: Some(AUTO_COMPLETE_DAYS as i32),
        ..Default::default()
    };
    programs::configure(db, merchant.id, None, patch, now())
        .await
        .unwrap();

    let mut model = Model::default();
    let mut order_ids: Vec<i64> = Vec::new();
    let mut withdrawal_ids: Vec<i64> = Vec::new();
    let fen = |f: i64| Unit::Cny.from_minor(f);
    for (step, op) in ops.iter().enumerate() {
        match op.clone() {
            Op::Order {
                user,
                fen: amount,
                points,
                complete,
            } => {
                let input = orders::NewOrder {
                    store_id: store.id,
                    user_id: Some(users[user]),
                    member_code: None,
                    amount: fen(amount),
                    points_to_use: points,
                    idempotency_key: format!("k{step}"),
                    complete,
                };
                let real = orders::record_order(db, merchant.id, None, input, now()).await;
                let expected = model.order(user, amount, points, complete);
                match (real, expected) {
                    (Ok(order), Ok(_)) => order_ids.push(order.id),
                    (Err(e), Err(c)) => assert_eq!(code(&e), c, "step {step} {op:?}"),
                    (real, expected) => {
                        panic!("step {step} {op:?}: service {real:?}, model {expected:?}")
                    }
                }
            }
            Op::Complete(pick) | Op::Refund(pick) if order_ids.is_empty() => {
                let _ = pick;
            }
            Op::Complete(pick) => {
                let i = pick % order_ids.len();
                let real = orders::complete_order(db, merchant.id, order_ids[i], now()).await;
                assert_eq!(real.is_ok(), model.complete(i), "step {step} {op:?}");
            }
            Op::Refund(pick) => {
                let i = pick % order_ids.len();
                let real = orders::refund_order(db, merchant.id, order_ids[i], None, now()).await;
                let expected = model.orders[i].2 == "PAID";
                if expected {
                    model.orders[i].2 = "REFUNDED";
                    for (lot, points) in model.orders[i].3.clone() {
                        model.lots[lot].1 += points;
                    }
                }
                assert_eq!(real.is_ok(), expected, "step {step} {op:?}");
            }
            Op::Credit { user, fen: amount } => {
                t.credit_cash(
                    &merchant.id.to_string(),
                    &users[user].to_string(),
                    &fen(amount).to_string(),
                )
                .await;
                model.cash[user] += amount;
            }
            Op::Withdraw { user, fen: amount } => {
                let real = withdrawals::request_withdrawal(
                    db,
                    merchant.id,
                    users[user],
                    fen(amount),
                    now(),
                )
                .await;
                let expected = if amount < 1000 {
                    Err("INVALID_INPUT")
                } else if model.cash[user] < amount {
                    Err("INSUFFICIENT_FUNDS")
                } else {
                    model.cash[user] -= amount;
                    model.hold[user] += amount;
                    model.withdrawals.push((user, amount, true));
                    Ok(())
                };
                match (real, expected) {
                    (Ok(w), Ok(())) => withdrawal_ids.push(w.id),
                    (Err(e), Err(c)) => assert_eq!(code(&e), c, "step {step} {op:?}"),
                    (real, expected) => {
                        panic!("step {step} {op:?}: service {real:?}, model {expected:?}")
                    }
                }
            }
            Op::Review { pick, approve } => {
                if withdrawal_ids.is_empty() {
                    continue;
                }
                let i = pick % withdrawal_ids.len();
                let real = withdrawals::review_withdrawal(
                    db,
                    merchant.id,
                    Some(1),
                    withdrawal_ids[i],
                    approve,
                    None,
                    now(),
                )
                .await;
                let (user, amount, pending) = model.withdrawals[i];
                if pending {
                    model.withdrawals[i].2 = false;
                    model.hold[user] -= amount;
                    if !approve {
                        model.cash[user] += amount;
                    }
                }
                assert_eq!(real.is_ok(), pending, "step {step} {op:?}");
            }
            Op::Advance(days) => {
                t.clock.advance(Duration::days(days));
                model.day += days;
                sweeps::run_once(db, now()).await.unwrap();
                for i in 0..model.orders.len() {
                    if model.orders[i].2 == "PAID"
                        && model.day - model.orders[i].4 >= AUTO_COMPLETE_DAYS
                    {
                        model.complete(i);
                    }
                }
                model.expire(None);
            }
        }
        for (u, user_id) in users.iter().enumerate() {
            let real = wallet::balances(db, merchant.id, *user_id).await.unwrap();
            assert_eq!(
                real.cash,
                fen(model.cash[u]),
                "cash of {u} after step {step} {op:?}"
            );
            assert_eq!(
                real.cash_on_hold,
                fen(model.hold[u]),
                "hold of {u} after step {step}"
            );
            assert_eq!(
                real.points,
                model.points(u),
                "points of {u} after step {step} {op:?}"
            );
            assert!(real.cash >= Decimal::ZERO && real.points >= 0);
        }
    }
    t.assert_audit_clean().await;
}
