//! The checks every request passes before it runs, as one async-graphql extension (each
//! extension wraps every step of every request, and every field, in a call of its own):
//!
//! - as the request is prepared: its cost ([`cost::refusal`]), then the non-null variables it
//!   must give ([`policy::missing_variable_refusal`]);
//! - once parsed: introspection in production ([`policy::introspection_refusal`]), then its
//!   text inputs ([`policy::input_text_refusal`]);
//! - validation: a document that passed validation once passes it again with the same
//!   result (the schema does not change while the server runs), so that result is kept for
//!   it; of the rules only one reads the variables' values (each argument given by a
//!   variable has a value of its type, `async_graphql::check_variable_values`), and a kept
//!   document with variables goes through that one alone.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::{
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
        NextValidation,
    },
    parser::types::ExecutableDocument,
    Request, ServerError, ServerResult, ValidationResult, Variables,
};

use super::{cost, documents, policy};

pub struct Checks {
    pub max_cost: u64,
    pub introspection_off: bool,
    pub validated: Arc<Validated>,
}

impl ExtensionFactory for Checks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestChecks {
            max_cost: self.max_cost,
            introspection_off: self.introspection_off,
            validated: self.validated.clone(),
            kept: Mutex::new(None),
        })
    }
}

/// A document (its text and the operation named) whose validation result is kept.
type Key = (Box<str>, Option<Box<str>>);

/// Validation results of documents that passed it, bounded as parsed documents are.
pub type Validated = documents::Bounded<Key, ValidationResult>;

struct RequestChecks {
    max_cost: u64,
    introspection_off: bool,
    validated: Arc<Validated>,
    /// This request's document, when its validation result may be kept.
    kept: Mutex<Option<Kept>>,
}

enum Kept {
    /// Not validated before: validated in full, and its result kept if it passes.
    Unknown(Key),
    /// Validated before: the outcome with this request's variables.
    Decided(Result<ValidationResult, Vec<ServerError>>),
}

impl RequestChecks {
    fn kept(&self) -> MutexGuard<'_, Option<Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn after_parsing(
        &self,
        document: &ExecutableDocument,
        variables: &Variables,
    ) -> Option<ServerError> {
        self.introspection_off
            .then(|| policy::introspection_refusal(document))
            .flatten()
            .or_else(|| policy::input_text_refusal(document, variables))
    }
}

#[async_trait::async_trait]
impl Extension for RequestChecks {
    /// Fields resolve without going through this extension (it checks whole requests).
    fn wraps_fields(&self) -> bool {
        false
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Some(refusal) = cost::refusal(&ctx.schema_env.registry, &mut request, self.max_cost)
            .or_else(|| policy::missing_variable_refusal(&mut request))
        {
            return Err(refusal);
        }
        if request.query.len() <= documents::MAX_CACHED_TEXT {
            *self.kept() = Some(Kept::Unknown((
                request.query.as_str().into(),
                request.operation_name.as_deref().map(Into::into),
            )));
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(refusal) = self.after_parsing(&document, variables) {
            return Err(refusal);
        }
        let mut kept = self.kept();
        if let Some(Kept::Unknown(key)) = kept.as_ref() {
            if let Some(result) = self.validated.get(key) {
                let decided = if variables.is_empty() {
                    Ok(result)
                } else {
                    async_graphql::check_variable_values(
                        &ctx.schema_env.registry,
                        &document,
                        variables,
                        key.1.as_deref(),
                    )
                    .map(|()| result)
                };
                *kept = Some(Kept::Decided(decided));
            }
        }
        drop(kept);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let kept = self.kept().take();
        match kept {
            Some(Kept::Decided(outcome)) => outcome,
            Some(Kept::Unknown(key)) => {
                let result = next.run(ctx).await?;
                self.validated.insert(key, result);
                Ok(result)
            }
            None => next.run(ctx).await,
        }
    }
}

#[cfg(test)]
mod tests {
    /// A kept document with variables is checked again by `check_variable_values` alone,
    /// which is whole only while nothing else in validation reads the variables' values: a
    /// complexity computed from a field's arguments (async-graphql's `complexity` attribute
    /// on a field) or a complexity limit would.
    #[test]
    fn no_field_computes_its_complexity_from_its_arguments() {
        fn sources(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).expect("the source tree") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    found.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 50, "the sources were not found");
        // Spelled in pieces so that this file does not find itself.
        let attribute = ["complexity", " ="].concat();
        let limit = ["limit_", "complexity"].concat();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("a source file");
            assert!(
                !text.contains(&attribute) && !text.contains(&limit),
                "{} computes complexity: keep validation results only for documents \
                 without variables (src/graphql/checks.rs) or check complexity per request",
                file.display()
            );
        }
    }
}
