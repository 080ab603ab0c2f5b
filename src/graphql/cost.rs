//! What a query may cost, checked right after parsing and before anything else looks at it.
//!
//! A field costs 1 plus the cost of its selection, and a paginated field (a connection, or a
//! list with `first`) multiplies the cost of its selection by its page size: `first` when the
//! request gives it, else the server's largest page (100). A list without pages counts as
//! [`UNPAGED_LIST`]. So nested lists multiply, as the rows they would load do. Each
//! fragment's cost and depth are computed once and reused at every spread, so the check is
//! linear in the document's size: a kilobyte of doubling fragments (a "fragment bomb") is
//! refused in microseconds instead of being expanded. The schema's own introspection lists
//! count once (production refuses introspection).

use std::collections::HashMap;

use async_graphql::{
    parser::types::{ExecutableDocument, Field, Selection, SelectionSet},
    registry::{MetaTypeName, Registry},
    Name, Request, ServerError, Value, Variables,
};

use crate::{
    error::{server_error, AppError},
    graphql::membership::query::MAX_PAGE,
};

/// What a list without pages (a merchant's stores, a shopper's memberships, an order's
/// rewards) counts as: the size such lists have in practice. Lists that can be long are
/// paginated (`first`) and count as their page.
const UNPAGED_LIST: u64 = 10;

/// The check runs as the request is prepared (`graphql::checks`), on a document parsed once
/// and handed on to async-graphql: its own checks after parsing (recursion depth, directives)
/// and in validation (depth) walk fragment spreads without memory, so they must only ever see
/// a document whose expansion this check has bounded. `None`: within `max_cost` (or the
/// document does not parse, which GraphQL reports itself).
pub fn refusal(registry: &Registry, request: &mut Request, max_cost: u64) -> Option<ServerError> {
    let variables = std::mem::take(&mut request.variables);
    let cost = request
        .parsed_query()
        .map(|document| document_cost(registry, document, &variables))
        .unwrap_or(0);
    request.variables = variables;
    (cost > max_cost).then(|| {
        server_error(AppError::invalid(format!(
            "the query is too costly: it could load about {cost} items, and the limit is \
             {max_cost}; ask for smaller pages or fewer nested lists"
        )))
    })
}

/// The cost of the costliest operation of the document.
pub fn document_cost(
    registry: &Registry,
    document: &ExecutableDocument,
    variables: &Variables,
) -> u64 {
    let mut costing = Costing {
        registry,
        document,
        variables,
        fragments: HashMap::new(),
    };
    document
        .operations
        .iter()
        .map(|(_, operation)| {
            let root = match operation.node.ty {
                async_graphql::parser::types::OperationType::Query => registry.query_type.as_str(),
                async_graphql::parser::types::OperationType::Mutation => {
                    registry.mutation_type.as_deref().unwrap_or_default()
                }
                async_graphql::parser::types::OperationType::Subscription => {
                    registry.subscription_type.as_deref().unwrap_or_default()
                }
            };
            costing.selection_set(&operation.node.selection_set.node, Some(root))
        })
        .max()
        .unwrap_or(0)
}

enum Memo {
    InProgress,
    Done(u64),
}

struct Costing<'a> {
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    fragments: HashMap<&'a Name, Memo>,
}

impl<'a> Costing<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, parent: Option<&'a str>) -> u64 {
        let mut total = 0u64;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => self.field(&field.node, parent),
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .or(parent);
                    self.selection_set(&fragment.node.selection_set.node, on)
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            total = total.saturating_add(cost);
        }
        total
    }

    /// A named fragment's cost, computed once. A cycle costs nothing here: validation
    /// refuses it later.
    fn fragment(&mut self, name: &'a Name) -> u64 {
        match self.fragments.get(name) {
            Some(Memo::Done(cost)) => return *cost,
            Some(Memo::InProgress) => return 0,
            None => {}
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return 0;
        };
        self.fragments.insert(name, Memo::InProgress);
        let on = fragment.node.type_condition.node.on.node.as_str();
        let cost = self.selection_set(&fragment.node.selection_set.node, Some(on));
        self.fragments.insert(name, Memo::Done(cost));
        cost
    }

    fn field(&mut self, field: &'a Field, parent: Option<&'a str>) -> u64 {
        let meta = parent
            .and_then(|p| self.registry.types.get(p))
            .and_then(|t| t.field_by_name(field.name.node.as_str()));
        let Some(meta) = meta else {
            // Unknown here (validation refuses it later): its selection counts once.
            return 1u64.saturating_add(self.selection_set(&field.selection_set.node, None));
        };
        let ty = meta.ty.as_str();
        let type_name = MetaTypeName::concrete_typename(ty);
        let children = self.selection_set(&field.selection_set.node, Some(type_name));
        let in_connection = parent.is_some_and(|p| p.ends_with("Connection"));
        let multiplier = if type_name.starts_with("__") || in_connection {
            // Introspection's lists are as long as the schema is (and production refuses
            // introspection); a connection's edges were counted by the connection.
            1
        } else if meta.args.contains_key("first") {
            self.page_size(field)
        } else if ty.starts_with('[') {
            UNPAGED_LIST
        } else {
            1
        };
        1u64.saturating_add(multiplier.saturating_mul(children))
    }

    /// `first` as the request gives it (a literal or a variable), else the largest page.
    fn page_size(&self, field: &Field) -> u64 {
        let first = field.get_argument("first").and_then(|value| {
            match value
                .node
                .clone()
                .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
            {
                Ok(Value::Number(n)) => n.as_u64(),
                _ => None,
            }
        });
        first.unwrap_or(MAX_PAGE as u64).clamp(1, MAX_PAGE as u64)
    }
}
