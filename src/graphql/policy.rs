//! Checks of a request's document before it runs.

use async_graphql::{
    parser::{
        types::{ExecutableDocument, OperationDefinition, Selection, SelectionSet},
        Positioned,
    },
    Request, ServerError, Variables,
};

use crate::error::{server_error, AppError};

/// In production, a document that asks for `__schema` or `__type` is refused as a whole
/// (`FORBIDDEN`) instead of answering `null` with no word of why.
pub fn introspection_refusal(document: &ExecutableDocument) -> Option<ServerError> {
    let introspects = document
        .operations
        .iter()
        .any(|(_, op)| introspects(&op.node.selection_set.node))
        || document
            .fragments
            .values()
            .any(|f| introspects(&f.node.selection_set.node));
    introspects.then(|| server_error(AppError::forbidden("introspection is off on this server")))
}

/// Whether a selection set introspects the schema anywhere (fragment spreads are checked
/// where the fragments are defined). Linear in the document's size.
///
/// `__type(name: …) { name }` alone is let through: it tells a client no more than whether a
/// type it already names exists, and the GraphQL-over-HTTP audit suite checks variables
/// with exactly that query. Any other field of a type, and `__schema`, is introspection.
fn introspects(set: &SelectionSet) -> bool {
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => match field.node.name.node.as_str() {
            "__schema" => true,
            "__type" => !names_only(&field.node.selection_set.node),
            _ => introspects(&field.node.selection_set.node),
        },
        Selection::InlineFragment(fragment) => introspects(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => false,
    })
}

fn names_only(set: &SelectionSet) -> bool {
    set.items.iter().all(|item| match &item.node {
        Selection::Field(field) => {
            matches!(field.node.name.node.as_str(), "name" | "__typename")
                && field.node.selection_set.node.items.is_empty()
        }
        _ => false,
    })
}

/// A variable the operation declares as non-null, without a default, must be given (and not
/// as `null`): a request error before anything runs, as graphql-js reports it, rather than
/// an error at the first field that reads it.
pub fn missing_variable_refusal(request: &mut Request) -> Option<ServerError> {
    missing_variable(request).map(|name| {
        server_error(AppError::invalid(format!(
            "Variable \"${name}\" of non-null type was not provided."
        )))
    })
}

/// The first non-null variable without a default that the request leaves out. A document
/// that does not parse, or names no such operation, is left for GraphQL to report.
fn missing_variable(request: &mut Request) -> Option<String> {
    let variables = std::mem::take(&mut request.variables);
    let wanted = request.operation_name.clone();
    let missing = request
        .parsed_query()
        .ok()
        .and_then(|document| selected_operation(document, wanted.as_deref()))
        .and_then(|operation| first_missing(operation, &variables));
    request.variables = variables;
    missing
}

/// Whether the operation a request runs is a mutation (only a mutation writes live events,
/// so only a mutation wakes the live relay).
pub fn is_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    selected_operation(document, name).is_some_and(|operation| {
        operation.node.ty == async_graphql::parser::types::OperationType::Mutation
    })
}

/// The operation a request runs: the one named, or the first. `None` when there is no such
/// operation (GraphQL reports that itself).
pub fn selected_operation<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match name {
        Some(wanted) => document
            .operations
            .iter()
            .find(|(name, _)| name.is_some_and(|n| n.as_str() == wanted))
            .map(|(_, operation)| operation),
        None => document
            .operations
            .iter()
            .next()
            .map(|(_, operation)| operation),
    }
}

fn first_missing(
    operation: &Positioned<OperationDefinition>,
    variables: &Variables,
) -> Option<String> {
    operation
        .node
        .variable_definitions
        .iter()
        .find(|definition| {
            let definition = &definition.node;
            !definition.var_type.node.nullable
                && definition.default_value.is_none()
                && variables
                    .get(&definition.name.node)
                    .is_none_or(|value| *value == async_graphql::Value::Null)
        })
        .map(|definition| definition.node.name.node.to_string())
}

/// The longest text any string input may be; fields with a purpose have shorter limits
/// (names 64, reasons and notes 200).
pub const MAX_TEXT_CHARS: usize = 1000;

/// Every string a request brings, in its variables or written in its document, is refused
/// (`INVALID_INPUT`, before anything runs) if it holds a control character (U+0000–U+001F,
/// U+007F–U+009F: NUL, line breaks, escapes) or is longer than [`MAX_TEXT_CHARS`]; the one
/// exception is an input field named `…Pem` (a key), which may hold line breaks and up to
/// [`MAX_PEM_CHARS`]. Linear in the size of the request.
pub fn input_text_refusal(
    document: &ExecutableDocument,
    variables: &Variables,
) -> Option<ServerError> {
    let mut problem = variables
        .iter()
        .find_map(|(_, value)| bad_text_in_const(value));
    for (_, operation) in document.operations.iter() {
        if problem.is_some() {
            break;
        }
        problem = operation
            .node
            .variable_definitions
            .iter()
            .filter_map(|d| d.node.default_value.as_ref())
            .find_map(|v| bad_text_in_const(&v.node))
            .or_else(|| bad_text_in_set(&operation.node.selection_set.node));
    }
    for fragment in document.fragments.values() {
        if problem.is_some() {
            break;
        }
        problem = bad_text_in_set(&fragment.node.selection_set.node);
    }
    problem.map(|problem| server_error(AppError::invalid(problem)))
}

/// The longest PEM text (a key) an input field named `…Pem` may hold.
pub const MAX_PEM_CHARS: usize = 10_000;

fn bad_text(text: &str) -> Option<String> {
    if text.chars().any(char::is_control) {
        return Some("text inputs must not contain control characters".into());
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Some(format!(
            "text inputs are at most {MAX_TEXT_CHARS} characters"
        ));
    }
    None
}

/// A PEM document (an input field whose name ends in `Pem`): lines, no other controls.
fn bad_pem(text: &str) -> Option<String> {
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Some(
            "PEM inputs must not contain control characters other than line breaks".into(),
        );
    }
    if text.chars().count() > MAX_PEM_CHARS {
        return Some(format!("PEM inputs are at most {MAX_PEM_CHARS} characters"));
    }
    None
}

fn bad_text_in_const(value: &async_graphql::Value) -> Option<String> {
    use async_graphql::Value;
    match value {
        Value::String(text) => bad_text(text),
        Value::List(items) => items.iter().find_map(bad_text_in_const),
        Value::Object(fields) => fields.iter().find_map(|(name, value)| match value {
            Value::String(text) if name.ends_with("Pem") => bad_pem(text),
            other => bad_text_in_const(other),
        }),
        _ => None,
    }
}

/// The strings written in a document's arguments (variables in them are checked as
/// variables, so they count as `null` here).
fn bad_text_in_set(set: &SelectionSet) -> Option<String> {
    let written = |value: &Positioned<async_graphql_value::Value>| {
        value
            .node
            .clone()
            .into_const_with(|_| Ok::<_, ()>(async_graphql::Value::Null))
            .ok()
            .and_then(|value| bad_text_in_const(&value))
    };
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => field
            .node
            .arguments
            .iter()
            .find_map(|(_, value)| written(value))
            .or_else(|| {
                field.node.directives.iter().find_map(|d| {
                    d.node
                        .arguments
                        .iter()
                        .find_map(|(_, value)| written(value))
                })
            })
            .or_else(|| bad_text_in_set(&field.node.selection_set.node)),
        Selection::InlineFragment(fragment) => bad_text_in_set(&fragment.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
    })
}
