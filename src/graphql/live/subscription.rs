use async_graphql::{Context, Result, Subscription, ID};
use futures::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use super::types::MerchantEvent;
use crate::{
    auth::{Principal, StaffRole},
    error::AppError,
    graphql::{
        context::{ContextExt, Guard},
        queue::types::{slots, Known, QueueEntry},
        wallet::types::Wallet,
    },
    live::{LiveSignal, QueueSnapshot},
    services::{members, parse_id, queue},
    AppState,
};

/// The merchant's last event sequence number, read before the state it goes with.
async fn current_seq(app: &AppState, merchant_id: i64) -> i64 {
    entity::queue_state::Entity::find_by_id(merchant_id)
        .one(&app.db)
        .await
        .ok()
        .flatten()
        .map_or(0, |s| s.event_seq)
}

use sea_orm::{AccessMode, ConnectionTrait, EntityTrait, IsolationLevel, TransactionTrait};

/// The entry's standing from a snapshot, with its received amount (fen).
fn standing_in(
    snapshot: &QueueSnapshot,
    entry: &entity::queue_entry::Model,
) -> (queue::Standing, i64) {
    if let Some((_, received, true)) = snapshot.changed.iter().find(|c| c.0 == entry.id) {
        return (queue::Standing::Completed, *received);
    }
    if let Some(index) = snapshot.active.iter().position(|a| a.0 == entry.id) {
        return (
            queue::Standing::Active {
                position: index as i64 + 1,
            },
            snapshot.active[index].1,
        );
    }
    (
        queue::Standing::Waiting {
            position: entry.ordinal - snapshot.completed_count,
        },
        entry.received,
    )
}

/// An entry's state as the database has it (the truth), with the event sequence number it
/// corresponds to.
struct Reread {
    seq: i64,
    model: entity::queue_entry::Model,
    standing: queue::Standing,
    pace: Option<f64>,
}

/// Reads the entry, its standing and the merchant's event sequence number from one
/// snapshot, so a completion committing meanwhile cannot mix the state before it with the
/// state after it (PostgreSQL: a repeatable-read transaction; SQLite: one read transaction).
async fn reread(app: &AppState, entry_id: i64, slots: i32) -> Result<Reread, AppError> {
    let txn = if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        app.db
            .begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
    } else {
        app.db.begin().await?
    };
    let model = queue::entry(&txn, entry_id).await?;
    let seq = entity::queue_state::Entity::find_by_id(model.merchant_id)
        .one(&txn)
        .await?
        .map_or(0, |s| s.event_seq);
    let standing = queue::standing(&txn, &model, slots).await?;
    let pace = queue::seconds_per_completion(&txn, model.merchant_id, app.clock.now()).await?;
    txn.commit().await?;
    Ok(Reread {
        seq,
        model,
        standing,
        pace,
    })
}

/// [`reread`] when events cannot be applied, said in the debug log (a burst of these across
/// subscribers is a burst of database reads).
async fn reread_after(
    app: &AppState,
    entry_id: i64,
    slots: i32,
    why: &'static str,
) -> Result<Reread, AppError> {
    tracing::debug!(entry_id, why, "re-reading a queue position");
    reread(app, entry_id, slots).await
}

#[derive(Default)]
pub struct LiveSubscription;

#[Subscription]
impl LiveSubscription {
    /// A queue entry's state at once, then again whenever its position, status or received
    /// amount changes; ends when it completes. Its owner or the merchant's staff only.
    async fn queue_position(
        &self,
        ctx: &Context<'_>,
        entry_id: ID,
    ) -> Result<impl Stream<Item = Result<QueueEntry>>> {
        let principal = ctx.principal();
        principal.require_authenticated()?;
        let entry_id = parse_id(&entry_id, "queue entry")?;
        let app = ctx.app().clone();
        // The awaits before the stream are boxed: async-graphql keeps this resolver's future
        // beside the stream for as long as the subscription lasts.
        let entry = Box::pin(queue::entry(&app.db, entry_id)).await?;
        let allowed = match principal {
            Principal::Shopper { user_id } => user_id == entry.user_id,
            other => other.can_see_merchant_internals(entry.merchant_id),
        };
        if !allowed {
            return Err(AppError::forbidden("this queue entry is not yours").into());
        }
        let merchant_id = entry.merchant_id;
        let slots = Box::pin(slots(ctx, merchant_id)).await?;
        // Subscribe before reading, so nothing falls between the read and the first event.
        let mut signals = app.live.subscribe();
        Ok(async_stream::stream! {
            let (mut seq, mut model, mut standing, pace) = match Box::pin(reread(&app, entry_id, slots)).await {
                Ok(r) => (r.seq, r.model, r.standing, r.pace),
                Err(err) => { yield Err(err.into()); return; }
            };
            yield Ok(QueueEntry::known(model.clone(), Known { standing, seconds_per_completion: pace }));
            let mut shown_received = model.received;
            while standing != queue::Standing::Completed {
                // Conflation: every signal already waiting is applied before anything is
                // sent, so a subscriber that falls behind gets the newest state once, not a
                // backlog of the states in between.
                let mut signal = Some(signals.recv().await);
                let mut latest = None;
                while let Some(next_signal) = signal.take() {
                    let applied = match next_signal {
                        Ok(LiveSignal::Event(event)) => {
                            if event.merchant_id != merchant_id || event.seq <= seq {
                                None
                            } else {
                                let gap = event.seq != seq + 1;
                                seq = event.seq;
                                match (&event.queue, gap) {
                                    (Some(snapshot), false) => {
                                        let (next, received) = standing_in(snapshot, &model);
                                        Some((next, received, snapshot.seconds_per_completion))
                                    }
                                    (None, false) => None,
                                    (_, true) => match Box::pin(reread_after(&app, entry_id, slots, "a gap in sequence numbers")).await {
                                        Ok(r) => {
                                            // Later events up to the snapshot are already in it.
                                            seq = seq.max(r.seq);
                                            Some((r.standing, r.model.received, r.pace))
                                        }
                                        Err(err) => { yield Err(err.into()); return; }
                                    },
                                }
                            }
                        }
                        Ok(LiveSignal::Resync) | Err(RecvError::Lagged(_)) => {
                            let why = if matches!(next_signal, Ok(LiveSignal::Resync)) { "a resync" } else { "falling behind" };
                            match Box::pin(reread_after(&app, entry_id, slots, why)).await {
                                Ok(r) => {
                                    seq = seq.max(r.seq);
                                    Some((r.standing, r.model.received, r.pace))
                                }
                                Err(err) => { yield Err(err.into()); return; }
                            }
                        }
                        Err(RecvError::Closed) => return,
                    };
                    if let Some((next, received, pace)) = applied {
                        // The entry's own state moves on with each event applied, so later
                        // events are read against it.
                        if next == queue::Standing::Completed {
                            model.status = queue::COMPLETED.into();
                        }
                        model.received = received;
                        latest = Some((next, pace));
                        if next == queue::Standing::Completed {
                            break;
                        }
                    }
                    signal = match signals.try_recv() {
                        Ok(waiting) => Some(Ok(waiting)),
                        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                        Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => None,
                    };
                }
                if let Some((next, pace)) = latest {
                    if next != standing || model.received != shown_received {
                        standing = next;
                        shown_received = model.received;
                        yield Ok(QueueEntry::known(model.clone(), Known { standing, seconds_per_completion: pace }));
                    }
                }
            }
        })
    }

    /// The shopper's own wallet at a merchant at once, then whenever it changes.
    async fn wallet_updated(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
    ) -> Result<impl Stream<Item = Result<Wallet>>> {
        let user_id = ctx.principal().require_shopper()?;
        let merchant_id = parse_id(&merchant_id, "merchant")?;
        let app = ctx.app().clone();
        Box::pin(members::find_membership(&app.db, merchant_id, user_id))
            .await?
            .ok_or(AppError::NotFound("membership"))?;
        let mut signals = app.live.subscribe();
        Ok(async_stream::stream! {
            yield Ok(Wallet { merchant_id, user_id });
            loop {
                // Conflation: the wallet is read once however many of its changes wait.
                let mut changed = false;
                let mut signal = Some(signals.recv().await);
                while let Some(next) = signal.take() {
                    match next {
                        Ok(LiveSignal::Event(event)) => {
                            changed |= event.merchant_id == merchant_id && event.wallets.contains(&user_id);
                        }
                        Ok(LiveSignal::Resync) | Err(RecvError::Lagged(_)) => changed = true,
                        Err(RecvError::Closed) => return,
                    }
                    signal = match signals.try_recv() {
                        Ok(waiting) => Some(Ok(waiting)),
                        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                        Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => None,
                    };
                }
                if changed {
                    yield Ok(Wallet { merchant_id, user_id });
                }
            }
        })
    }

    /// Staff: orders completed, members joined and withdrawals requested, as they happen.
    async fn merchant_feed(
        &self,
        ctx: &Context<'_>,
        merchant_id: ID,
    ) -> Result<impl Stream<Item = Result<MerchantEvent>>> {
        let merchant_id = ctx.staff_of(&merchant_id, StaffRole::Cashier)?;
        let app = ctx.app().clone();
        let mut signals = app.live.subscribe();
        Ok(async_stream::stream! {
            let mut seq = Box::pin(current_seq(&app, merchant_id)).await;
            loop {
                match signals.recv().await {
                    Ok(LiveSignal::Event(event)) => {
                        if event.merchant_id != merchant_id || event.seq <= seq {
                            continue;
                        }
                        if event.seq != seq + 1 {
                            yield Ok(MerchantEvent::resync(event.at));
                        }
                        seq = event.seq;
                        if let Some(shown) = MerchantEvent::of(&event) {
                            yield Ok(shown);
                        }
                    }
                    Ok(LiveSignal::Resync) | Err(RecvError::Lagged(_)) => {
                        seq = Box::pin(current_seq(&app, merchant_id)).await;
                        yield Ok(MerchantEvent::resync(app.clock.now()));
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        })
    }
}
