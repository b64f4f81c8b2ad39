//! Recently looked-up API keys, so authentication costs one database lookup per key and
//! `ttl` rather than one per request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

/// Recently looked-up keys, by digest, so a busy client costs one database lookup per `ttl`
/// instead of one per request; unknown keys are remembered too, so repeating a bad key costs
/// no lookup. A revoked key keeps working for at most `ttl`.
#[derive(Clone)]
pub struct KeyCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<Vec<u8>, Entry>>>,
}

/// A key's id (`None`: no such key) and when it was looked up.
type Entry = (Option<Uuid>, Instant);

/// More distinct keys than this and the cache starts over: memory stays bounded.
const MAX_KEYS: usize = 10_000;

impl KeyCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Arc::default(),
        }
    }

    pub(crate) fn get(&self, digest: &[u8]) -> Option<Option<Uuid>> {
        let entries = self.entries.lock().expect("key cache poisoned");
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| *id)
    }

    pub(crate) fn put(&self, digest: Vec<u8>, id: Option<Uuid>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("key cache poisoned");
        if entries.len() >= MAX_KEYS {
            entries.clear();
        }
        entries.insert(digest, (id, Instant::now()));
    }
}
