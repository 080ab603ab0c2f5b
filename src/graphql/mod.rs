//! The GraphQL schema: per-domain roots merged here, resolvers that call services.

pub mod account;
pub mod batch;
pub mod checks;
pub mod coalesce;
pub mod context;
pub mod cost;
pub mod dashboard;
pub mod documents;
pub mod live;
pub mod loaders;
pub mod membership;
pub mod merchant;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod policy;
pub mod programs;
pub mod queue;
pub mod value_added;
pub mod wallet;

use async_graphql::{MergedObject, MergedSubscription, Schema};

use crate::AppState;

#[derive(MergedObject, Default)]
pub struct Query(
    account::query::AccountQuery,
    merchant::query::MerchantQuery,
    membership::query::MembershipQuery,
    orders::query::OrdersQuery,
    payments::query::PaymentsQuery,
    notifications::query::NotificationsQuery,
    wallet::query::WalletQuery,
    queue::query::QueueQuery,
    value_added::query::ValueAddedQuery,
    dashboard::query::DashboardQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    account::mutation::AccountMutation,
    merchant::mutation::MerchantMutation,
    membership::mutation::MembershipMutation,
    programs::mutation::ProgramsMutation,
    orders::mutation::OrdersMutation,
    payments::mutation::PaymentsMutation,
    notifications::mutation::NotificationsMutation,
    wallet::mutation::WalletMutation,
    value_added::mutation::ValueAddedMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(live::subscription::LiveSubscription);

pub type FenhongSchema = Schema<Query, Mutation, Subscription>;

/// The schema with its limits; introspection is refused in production.
pub fn build_schema(state: AppState) -> FenhongSchema {
    let config = &state.config;
    let builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .extension(checks::Checks {
        max_cost: config.max_query_cost,
        introspection_off: config.is_production(),
        validated: Default::default(),
    })
    .limit_depth(config.max_query_depth)
    .limit_recursive_depth(64)
    .limit_directives(16);
    builder
        .data(loaders::new(state.db.clone()))
        .data(loaders::shared_merchants(state.db.clone()))
        .data(state)
        .finish()
}

/// The SDL clients are written against (`fenhong print-schema`, committed as schema.graphql).
pub fn sdl() -> String {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .finish()
    .sdl()
}
