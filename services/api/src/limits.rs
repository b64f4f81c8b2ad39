//! In-process fixed-window counters: the per-address limit on failed authentications, and
//! the per-key rate limit used while Redis (which holds the shared one) is unavailable.
//! Each process counts on its own, so with N api replicas a client gets up to N times the
//! limit; that is the price of not depending on Redis for them.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Distinct subjects tracked at most; past it the oldest windows are dropped, so memory is
/// bounded whatever the traffic (an attacker cycling addresses only resets its own counts).
const MAX_SUBJECTS: usize = 10_000;

/// Counts events per subject in fixed windows of `window`, allowing `limit` per window.
#[derive(Clone)]
pub struct WindowLimit<K> {
    limit: u32,
    window: Duration,
    counts: Arc<Mutex<HashMap<K, (Instant, u32)>>>,
}

impl<K: Eq + Hash + Clone> WindowLimit<K> {
    /// A limit of `limit` events per `window` and subject.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            counts: Arc::default(),
        }
    }

    /// Counts one event; `Err(retry_after)` when the subject is already over the limit.
    pub fn hit(&self, subject: &K) -> Result<(), Duration> {
        let mut counts = self.counts.lock().expect("limit poisoned");
        let now = Instant::now();
        if counts.len() >= MAX_SUBJECTS && !counts.contains_key(subject) {
            let window = self.window;
            counts.retain(|_, (start, _)| now.duration_since(*start) < window);
            if counts.len() >= MAX_SUBJECTS {
                counts.clear();
            }
        }
        let entry = counts.entry(subject.clone()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            return Err(self.window.saturating_sub(now.duration_since(entry.0)));
        }
        entry.1 += 1;
        Ok(())
    }

    /// True when the subject has used up this window without counting anything.
    pub fn exhausted(&self, subject: &K) -> Option<Duration> {
        let counts = self.counts.lock().expect("limit poisoned");
        let (start, count) = counts.get(subject)?;
        let age = start.elapsed();
        (age < self.window && *count >= self.limit).then(|| self.window - age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_limit_per_window_then_refuses_until_the_window_ends() {
        let limit = WindowLimit::new(3, Duration::from_millis(50));
        for _ in 0..3 {
            assert!(limit.hit(&"a").is_ok());
        }
        assert!(limit.exhausted(&"a").is_some());
        let after = limit.hit(&"a").unwrap_err();
        assert!(after <= Duration::from_millis(50));
        assert!(limit.hit(&"b").is_ok(), "subjects are counted apart");
        std::thread::sleep(Duration::from_millis(60));
        assert!(limit.exhausted(&"a").is_none());
        assert!(limit.hit(&"a").is_ok());
    }

    #[test]
    fn memory_stays_bounded_by_the_subject_cap() {
        let limit = WindowLimit::new(1, Duration::from_secs(60));
        for i in 0..(MAX_SUBJECTS + 10) {
            let _ = limit.hit(&i);
        }
        assert!(limit.counts.lock().unwrap().len() <= MAX_SUBJECTS);
    }
}
