//! Property: over random purchases, sales, injections and forced exits, the pool backs every
//! point (`supply × price ≤ pool`), never goes negative, the ledger audit passes, and a model
//! written here in whole minor units agrees to the fen and the 1/10000 point.

use fenhong::{
    auth::wechat::WechatIdentity,
    clock::Clock,
    rules::{money::Unit, programs::ValueAddedRules},
    services::{accounts, members, merchants, orders, programs, value_added},
};
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::helpers::*;

const USERS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    Buy { user: usize, fen: i64 },
    Sell { user: usize, percent: i64 },
    Inject { fen: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..USERS, 100i64..200_000).prop_map(|(user, fen)| Op::Buy { user, fen }),
        3 => (0..USERS, 1i64..=100).prop_map(|(user, percent)| Op::Sell { user, percent }),
        1 => (1i64..50_000).prop_map(|fen| Op::Inject { fen }),
    ]
}

/// Pool in fen, supply and holdings in 1/10000 points; ratios in basis points.
struct Model {
    pool: i128,
    supply: i128,
    held: [i128; USERS],
    exit_threshold: i128,
}

impl Model {
    fn price4(&self) -> i128 {
        if self.supply > 0 {
            self.pool * 1_000_000 / self.supply
        } else {
            10_000
        }
    }

    fn sell(&mut self, user: usize, k: i128) -> i128 {
        let gross = k * self.pool / self.supply;
        let fee = gross * 1_000 / 10_000;
        let net = gross - fee;
        self.pool -= net;
        self.supply -= k;
        self.held[user] -= k;
        net
    }

    fn buy(&mut self, user: usize, fen: i128) -> i128 {
        let price = self.price4();
        let points = fen * 7_000 * 100 / price;
        self.pool += fen * 3_000 / 10_000;
        self.supply += points;
        self.held[user] += points;
        let mut cash = 0;
        if self.exit_threshold > 0 && self.held[user] >= self.exit_threshold {
            let k = self.held[user] * 5_000 / 10_000;
            if k > 0 {
                cash = self.sell(user, k);
            }
        }
        cash
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 30, ..ProptestConfig::default() })]

    #[test]
    fn the_pool_backs_every_point(exit in prop_oneof![Just(0i64), 100i64..400], ops in proptest::collection::vec(op(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(exit, ops));
    }
}

async fn run(exit: i64, ops: Vec<Op>) {
    let t = TestApp::new().await;
    let db = &t.app.state.db;
    let now = t.clock.now();
    let (merchant, _) = merchants::create_merchant(db, "VA", None, &unique("va"), PASSWORD, now)
        .await
        .unwrap();
    let store = merchants::create_store(db, &t.app.state.scenes, merchant.id, "Main", now)
        .await
        .unwrap();
    let scene = merchants::store_code(db, store.id).await.unwrap().scene;
    let mut users = Vec::new();
    for i in 0..USERS {
        let identity = WechatIdentity {
            openid: format!("va-{i}"),
            unionid: None,
        };
        let user = accounts::shopper_for(db, &identity, now).await.unwrap();
        members::join_by_scene(db, &t.app.state.scenes, user.id, &scene, now)
            .await
            .unwrap();
        users.push(user.id);
    }
    let rules = ValueAddedRules {
        enabled: true,
        pool_ratio: "0.30".parse().unwrap(),
        mint_ratio: "0.70".parse().unwrap(),
        initial_price: "1.0000".parse().unwrap(),
        redeem_fee_ratio: "0.10".parse().unwrap(),
        exit_threshold: Decimal::from(exit),
        exit_portion: "0.50".parse().unwrap(),
    };
    let patch = programs::ProgramsPatch {
        value_added: Some(rules.clone()),
        ..Default::default()
    };
    programs::configure(db, merchant.id, None, patch, now)
        .await
        .unwrap();
    let mut model = Model {
        pool: 0,
        supply: 0,
        held: [0; USERS],
        exit_threshold: i128::from(exit) * 10_000,
    };
    let mut cash = [0i128; USERS];
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Buy { user, fen } => {
                let input = orders::NewOrder {
                    store_id: store.id,
                    user_id: Some(users[user]),
                    member_code: None,
                    amount: Unit::Cny.from_minor(fen),
                    points_to_use: 0,
                    idempotency_key: format!("b{step}"),
                    complete: true,
                };
                orders::record_order(db, merchant.id, None, input, now)
                    .await
                    .unwrap();
                cash[user] += model.buy(user, i128::from(fen));
            }
            Op::Sell { user, percent } => {
                let k = model.held[user] * i128::from(percent) / 100;
                let points = Unit::VaPoints.from_minor(k as i64);
                let real = value_added::sell(db, merchant.id, users[user], points, now).await;
                if k == 0 {
                    assert!(
                        real.is_err(),
                        "step {step}: selling nothing must be refused"
                    );
                } else {
                    let sale = real.unwrap_or_else(|e| panic!("step {step} {op:?}: {e:?}"));
                    let net = model.sell(user, k);
                    assert_eq!(
                        sale.net,
                        Unit::Cny.from_minor(net as i64),
                        "step {step} {op:?}"
                    );
                    cash[user] += net;
                }
            }
            Op::Inject { fen } => {
                value_added::inject(db, merchant.id, Unit::Cny.from_minor(fen), now)
                    .await
                    .unwrap();
                model.pool += i128::from(fen);
            }
        }
        let pool = value_added::pool_of(db, merchant.id).await.unwrap();
        assert_eq!(
            pool.cash,
            Unit::Cny.from_minor(model.pool as i64),
            "pool after step {step} {op:?}"
        );
        assert_eq!(
            pool.supply,
            Unit::VaPoints.from_minor(model.supply as i64),
            "supply after step {step}"
        );
        assert!(pool.cash >= Decimal::ZERO);
        assert!(
            pool.supply * pool.price(&rules) <= pool.cash,
            "unbacked points after step {step}"
        );
        for (u, user_id) in users.iter().enumerate() {
            let held = value_added::holding(db, merchant.id, *user_id)
                .await
                .unwrap();
            assert_eq!(
                held,
                Unit::VaPoints.from_minor(model.held[u] as i64),
                "holding of {u} after step {step}"
            );
        }
    }
    t.assert_audit_clean().await;
}
