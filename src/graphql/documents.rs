//! Parsed documents by their text. Clients send the same few documents again and again
//! (a till records every order with one mutation, a shopper's page asks the same queries),
//! and parsing is most of what a small request costs; a document seen before is handed to
//! async-graphql already parsed. What is kept is bounded: only documents that parse, only
//! short ones, and only so many (one is forgotten to make room for a new one).

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use async_graphql::parser::{parse_query, types::ExecutableDocument};

/// Documents longer than this are parsed every time (clients' documents are far shorter).
pub const MAX_CACHED_TEXT: usize = 4 * 1024;

/// How many documents are kept.
pub const CAPACITY: usize = 512;

#[derive(Default)]
pub struct DocumentCache {
    documents: Bounded<Box<str>, Arc<ExecutableDocument>>,
}

impl DocumentCache {
    /// The document `text` parses to, or `None` when it does not parse (async-graphql then
    /// parses it again and reports the error as it always does).
    pub fn parse(&self, text: &str) -> Option<ExecutableDocument> {
        if text.len() > MAX_CACHED_TEXT {
            return parse_query(text).ok();
        }
        if let Some(document) = self.documents.get(text) {
            return Some(ExecutableDocument::clone(&document));
        }
        let document = parse_query(text).ok()?;
        self.documents
            .insert(text.into(), Arc::new(document.clone()));
        Some(document)
    }

    pub fn len(&self) -> usize {
        self.documents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A map shared by every request that keeps at most [`CAPACITY`] entries: when full, one is
/// forgotten to make room for a new one.
pub struct Bounded<K, V> {
    entries: Mutex<HashMap<K, V>>,
}

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock().get(key).cloned()
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            if let Some(old) = entries.keys().next().cloned() {
                entries.remove(&old);
            }
        }
        entries.insert(key, value);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, V>> {
        // A panic while the map was held leaves it whole (every change is one call).
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_seen_before_is_the_same_document() {
        let cache = DocumentCache::default();
        let text = "query($m: ID!) { merchant(id: $m) { id name } }";
        let first = cache.parse(text).expect("parses");
        let second = cache.parse(text).expect("parses");
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
        assert_eq!(
            format!("{first:?}"),
            format!("{:?}", parse_query(text).unwrap())
        );
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn only_documents_that_parse_and_are_short_are_kept() {
        let cache = DocumentCache::default();
        assert!(cache.parse("{ merchant(id: ").is_none());
        let long = format!("{{ __typename {} }}", "__typename ".repeat(MAX_CACHED_TEXT));
        assert!(cache.parse(&long).is_some());
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = DocumentCache::default();
        for i in 0..CAPACITY + 50 {
            let text = format!("query Q{i} {{ __typename }}");
            assert!(cache.parse(&text).is_some());
        }
        assert_eq!(cache.len(), CAPACITY);
    }
}
