use async_graphql::{ComplexObject, Context, Enum, Result, SimpleObject, ID};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::{
    graphql::{account::types::User, membership::types::load_user},
    live::{EventKind, LiveEvent},
};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum MerchantEventKind {
    OrderPaid,
    OrderRefunded,
    OrderCompleted,
    MemberJoined,
    WithdrawalRequested,
    /// A withdrawal is being transferred to the shopper's WeChat balance.
    WithdrawalTransferring,
    /// A withdrawal reached the shopper (transfer confirmed).
    WithdrawalPaid,
    /// A withdrawal's transfer failed or was cancelled; the amount is back in her cash.
    WithdrawalFailed,
    /// Events may have been missed (a reconnect, a slow reader): reload what is shown.
    Resync,
}

/// Something that just happened at a merchant.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct MerchantEvent {
    /// The merchant's event sequence number (0 for RESYNC).
    pub seq: i32,
    pub at: DateTime<Utc>,
    pub kind: MerchantEventKind,
    pub order_id: Option<ID>,
    pub user_id: Option<ID>,
    pub referrer_id: Option<ID>,
    pub withdrawal_id: Option<ID>,
    pub amount: Option<Decimal>,
}

#[ComplexObject]
impl MerchantEvent {
    /// The shopper the event is about (`userId`).
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user_of(ctx, self.user_id.as_ref()).await
    }

    /// Who referred the member who joined (`referrerId`).
    async fn referrer(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user_of(ctx, self.referrer_id.as_ref()).await
    }
}

async fn user_of(ctx: &Context<'_>, id: Option<&ID>) -> Result<Option<User>> {
    match id.and_then(|id| id.parse::<i64>().ok()) {
        Some(id) => Ok(Some(load_user(ctx, id).await?)),
        None => Ok(None),
    }
}

fn id(n: i64) -> Option<ID> {
    Some(ID(n.to_string()))
}

impl MerchantEvent {
    pub fn resync(at: DateTime<Utc>) -> Self {
        Self {
            seq: 0,
            at,
            kind: MerchantEventKind::Resync,
            order_id: None,
            user_id: None,
            referrer_id: None,
            withdrawal_id: None,
            amount: None,
        }
    }

    /// The feed's view of an event; `None` for events the feed does not show.
    pub fn of(event: &LiveEvent) -> Option<Self> {
        let mut out = Self::resync(event.at);
        out.seq = i32::try_from(event.seq).unwrap_or(i32::MAX);
        match &event.kind {
            EventKind::OrderPaid {
                order_id,
                user_id,
                amount,
            }
            | EventKind::OrderRefunded {
                order_id,
                user_id,
                amount,
            }
            | EventKind::OrderCompleted {
                order_id,
                user_id,
                amount,
            } => {
                out.kind = match event.kind {
                    EventKind::OrderPaid { .. } => MerchantEventKind::OrderPaid,
                    EventKind::OrderRefunded { .. } => MerchantEventKind::OrderRefunded,
                    _ => MerchantEventKind::OrderCompleted,
                };
                out.order_id = id(*order_id);
                out.user_id = id(*user_id);
                out.amount = Some(*amount);
            }
            EventKind::MemberJoined {
                user_id,
                referrer_id,
            } => {
                out.kind = MerchantEventKind::MemberJoined;
                out.user_id = id(*user_id);
                out.referrer_id = referrer_id.and_then(id);
            }
            EventKind::WithdrawalRequested {
                withdrawal_id,
                user_id,
                amount,
            } => {
                out.kind = MerchantEventKind::WithdrawalRequested;
                out.withdrawal_id = id(*withdrawal_id);
                out.user_id = id(*user_id);
                out.amount = Some(*amount);
            }
            EventKind::WithdrawalChanged {
                withdrawal_id,
                user_id,
                amount,
                status,
            } => {
                out.kind = match status.as_str() {
                    "TRANSFERRING" => MerchantEventKind::WithdrawalTransferring,
                    "PAID" => MerchantEventKind::WithdrawalPaid,
                    "FAILED" => MerchantEventKind::WithdrawalFailed,
                    _ => return None,
                };
                out.withdrawal_id = id(*withdrawal_id);
                out.user_id = id(*user_id);
                out.amount = Some(*amount);
            }
            EventKind::WalletsChanged => return None,
        }
        Some(out)
    }
}
