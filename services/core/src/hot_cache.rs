//! A small in-process cache of recent audio in front of Redis. Audio is content-addressed
//! and never changes, so a hot entry is always right; a byte budget bounds its memory and
//! a time to live bounds how long an entry outlives its use. The most requested texts then
//! cost no Redis round trip at all.

use std::{sync::Arc, time::Duration};

use moka::sync::Cache;

use crate::cache::CachedAudio;

/// Sync requests answered from the in-process cache.
pub const HOT_HITS: &str = "orator_hot_cache_hits_total";

/// The cache; clones share it. A budget of 0 bytes disables it.
#[derive(Clone)]
pub struct HotCache {
    entries: Option<Cache<String, Arc<CachedAudio>>>,
}

impl HotCache {
    /// At most `max_bytes` of audio (keys included), each entry for at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        metrics::describe_counter!(
            HOT_HITS,
            "Sync speech answered from the in-process audio cache (no Redis call)."
        );
        metrics::counter!(HOT_HITS).increment(0);
        let entries = (max_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &String, audio: &Arc<CachedAudio>| {
                    u32::try_from(key.len() + audio.bytes.len()).unwrap_or(u32::MAX)
                })
                .time_to_live(ttl)
                .build()
        });
        Self { entries }
    }

    /// The audio under `key`, if hot.
    pub fn get(&self, key: &str) -> Option<Arc<CachedAudio>> {
        let audio = self.entries.as_ref()?.get(key)?;
        metrics::counter!(HOT_HITS).increment(1);
        Some(audio)
    }

    /// Remembers `audio` under `key`.
    pub fn put(&self, key: &str, audio: Arc<CachedAudio>) {
        if let Some(entries) = &self.entries {
            entries.insert(key.to_owned(), audio);
        }
    }

    /// Forgets `key` (other processes' copies age out within the TTL).
    pub fn remove(&self, key: &str) {
        if let Some(entries) = &self.entries {
            entries.invalidate(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(len: usize) -> Arc<CachedAudio> {
        Arc::new(CachedAudio {
            sample_rate: 22050,
            duration_ms: 0,
            bytes: vec![0; len].into(),
        })
    }

    #[test]
    fn holds_entries_within_its_byte_budget() {
        let hot = HotCache::new(10_000, Duration::from_secs(60));
        for i in 0..100 {
            hot.put(&format!("k{i}"), audio(1000));
        }
        let entries = hot.entries.as_ref().unwrap();
        entries.run_pending_tasks();
        assert!(
            entries.weighted_size() <= 10_000,
            "{} bytes held",
            entries.weighted_size()
        );
        assert!(entries.entry_count() >= 1);
    }

    #[test]
    fn a_zero_budget_disables_it() {
        let hot = HotCache::new(0, Duration::from_secs(60));
        hot.put("k", audio(10));
        assert!(hot.get("k").is_none());
    }

    #[test]
    fn entries_expire() {
        let hot = HotCache::new(10_000, Duration::from_millis(20));
        hot.put("k", audio(10));
        assert!(hot.get("k").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(hot.get("k").is_none());
    }
}
