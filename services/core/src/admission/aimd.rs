//! An adaptive concurrency limit in the AIMD style of Netflix's concurrency-limits: the
//! limit grows by about one for every `limit` requests answered within the latency target
//! while the limit is in use, and shrinks by a factor when a request is slower than that.
//! Nothing waits: past the limit, [`Aimd::try_acquire`] says no at once.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Bounds and tuning of an [`Aimd`] limit.
#[derive(Debug, Clone, Copy)]
pub struct AimdConfig {
    /// The limit never goes below this.
    pub min: usize,
    /// Nor above this (the fixed ceiling).
    pub max: usize,
    /// Where it starts.
    pub initial: usize,
    /// A request held longer than this counts as a sign of overload.
    pub latency_target: Duration,
    /// Factor applied on a sign of overload (0.9 takes 10 % off).
    pub backoff: f64,
}

/// The adaptive limit; clones share it.
#[derive(Debug, Clone)]
pub struct Aimd {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: AimdConfig,
    in_flight: AtomicUsize,
    limit: AtomicUsize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The limit with its fractional growth, of which `limit` is the floor.
    exact: f64,
    /// Decreases are spaced by one latency target, so a burst of slow answers (all
    /// caused by the same overload) takes the limit down once, not once per answer.
    last_decrease: Option<Instant>,
}

/// One admitted unit of work; dropping it gives the slot back without a latency sample.
#[derive(Debug)]
pub struct Slot {
    shared: Arc<Shared>,
    started: Instant,
}

impl Aimd {
    /// A limit starting at `config.initial` (clamped into `min..=max`).
    pub fn new(config: AimdConfig) -> Self {
        let max = config.max.max(1);
        let min = config.min.clamp(1, max);
        let initial = config.initial.clamp(min, max);
        let config = AimdConfig {
            min,
            max,
            initial,
            ..config
        };
        Self {
            shared: Arc::new(Shared {
                config,
                in_flight: AtomicUsize::new(0),
                limit: AtomicUsize::new(initial),
                state: Mutex::new(State {
                    exact: initial as f64,
                    last_decrease: None,
                }),
            }),
        }
    }

    /// A slot if fewer than the limit are in flight.
    pub fn try_acquire(&self) -> Option<Slot> {
        let s = &self.shared;
        let limit = s.limit.load(Ordering::Relaxed);
        s.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()?;
        Some(Slot {
            shared: s.clone(),
            started: Instant::now(),
        })
    }

    /// Work in flight now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.shared.limit.load(Ordering::Relaxed)
    }
}

impl Slot {
    /// Ends the work and feeds its latency to the limit.
    pub fn complete(self) {
        let latency = self.started.elapsed();
        self.shared.sample(latency, Instant::now());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Shared {
    fn sample(&self, latency: Duration, now: Instant) {
        let c = &self.config;
        let mut state = self.state.lock().expect("aimd state poisoned");
        if latency > c.latency_target {
            let spaced = state
                .last_decrease
                .is_none_or(|at| now.duration_since(at) >= c.latency_target);
            if spaced {
                state.exact = (state.exact * c.backoff).max(c.min as f64);
                state.last_decrease = Some(now);
            }
        } else if self.in_flight.load(Ordering::Relaxed) * 2 >= state.exact as usize {
            // Grow only while the limit is what holds work back: an idle service learns
            // nothing about its capacity.
            state.exact = (state.exact + 1.0 / state.exact).min(c.max as f64);
        }
        self.limit.store(state.exact as usize, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(initial: usize) -> Aimd {
        Aimd::new(AimdConfig {
            min: 2,
            max: 20,
            initial,
            latency_target: Duration::from_millis(50),
            backoff: 0.5,
        })
    }

    #[test]
    fn refuses_past_the_limit_and_frees_on_drop() {
        let aimd = limiter(2);
        let a = aimd.try_acquire().expect("first");
        let _b = aimd.try_acquire().expect("second");
        assert!(aimd.try_acquire().is_none(), "third is over the limit");
        drop(a);
        assert_eq!(aimd.in_flight(), 1);
        assert!(aimd.try_acquire().is_some(), "a dropped slot is free again");
    }

    #[test]
    fn slow_answers_shrink_the_limit_once_per_target() {
        let aimd = limiter(16);
        let now = Instant::now();
        aimd.shared.sample(Duration::from_millis(200), now);
        assert_eq!(aimd.limit(), 8);
        // Same burst: not taken down again.
        aimd.shared
            .sample(Duration::from_millis(200), now + Duration::from_millis(10));
        assert_eq!(aimd.limit(), 8);
        aimd.shared
            .sample(Duration::from_millis(200), now + Duration::from_millis(60));
        assert_eq!(aimd.limit(), 4);
        for i in 0..10 {
            aimd.shared
                .sample(Duration::from_secs(1), now + Duration::from_secs(i + 1));
        }
        assert_eq!(aimd.limit(), 2, "never below the minimum");
    }

    #[test]
    fn fast_answers_grow_the_limit_only_while_it_is_used() {
        let aimd = limiter(4);
        for _ in 0..40 {
            aimd.shared.sample(Duration::from_millis(1), Instant::now());
        }
        assert_eq!(aimd.limit(), 4, "idle: no growth");
        let held: Vec<_> = (0..4).map(|_| aimd.try_acquire().unwrap()).collect();
        for _ in 0..40 {
            aimd.shared.sample(Duration::from_millis(1), Instant::now());
        }
        assert!(aimd.limit() > 4 && aimd.limit() <= 20, "grew to {}", aimd.limit());
        drop(held);
        for _ in 0..10_000 {
            let s = aimd.try_acquire();
            let _busy: Vec<_> = (0..aimd.limit()).filter_map(|_| aimd.try_acquire()).collect();
            drop(s);
            aimd.shared.sample(Duration::from_millis(1), Instant::now());
        }
        assert_eq!(aimd.limit(), 20, "never above the ceiling");
    }
}
