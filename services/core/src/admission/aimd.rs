//! An adaptive concurrency limit in the AIMD style of Netflix's concurrency-limits, judged
//! per window rather than per request: every window (one latency target long, and at least
//! a few samples) the mean time requests held their slot is compared with the target. Above
//! it, the limit shrinks by a factor; within it, and while the limit was what held work
//! back, it grows by one. A single slow request says little at thousands a second (there is
//! always a tail); the mean of a window says whether requests queue inside the process.
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
    /// The limit before rounding down.
    exact: f64,
    /// When the current window started.
    window_start: Instant,
    /// Samples in the window and their total latency.
    samples: u32,
    total: Duration,
    /// Whether work in flight reached half the limit during the window.
    used: bool,
}

/// Fewer samples than this and a window is extended: a mean of two says nothing.
const MIN_SAMPLES: u32 = 8;

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
                    window_start: Instant::now(),
                    samples: 0,
                    total: Duration::ZERO,
                    used: false,
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
        state.samples += 1;
        state.total += latency;
        // Counted at each sample, this one's slot included (it is given back after).
        state.used |= self.in_flight.load(Ordering::Relaxed) * 2 >= state.exact as usize;
        if state.samples < MIN_SAMPLES || now.duration_since(state.window_start) < c.latency_target {
            return;
        }
        let mean = state.total / state.samples;
        if mean > c.latency_target {
            state.exact = (state.exact * c.backoff).max(c.min as f64);
        } else if state.used {
            // An idle service learns nothing about its capacity: grow only when used.
            state.exact = (state.exact + 1.0).min(c.max as f64);
        }
        *state = State {
            exact: state.exact,
            window_start: now,
            samples: 0,
            total: Duration::ZERO,
            used: false,
        };
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

    /// Feeds one window of `n` samples of `latency` ending at `at`.
    fn window(aimd: &Aimd, at: Instant, latency: Duration, n: u32) {
        for _ in 0..n {
            aimd.shared.sample(latency, at);
        }
    }

    #[test]
    fn a_slow_window_shrinks_the_limit_and_a_slow_tail_does_not() {
        let aimd = limiter(16);
        let start = aimd.shared.state.lock().unwrap().window_start;
        let ms = Duration::from_millis;
        // A slow request in a fast window: the mean is within target.
        window(&aimd, start + ms(60), ms(1), MIN_SAMPLES - 1);
        aimd.shared.sample(ms(200), start + ms(60));
        assert_eq!(aimd.limit(), 16, "one slow request among fast ones changes nothing");
        window(&aimd, start + ms(120), ms(200), MIN_SAMPLES);
        assert_eq!(aimd.limit(), 8);
        // Too few samples: the window goes on.
        window(&aimd, start + ms(200), ms(200), MIN_SAMPLES - 1);
        assert_eq!(aimd.limit(), 8);
        aimd.shared.sample(ms(200), start + ms(200));
        assert_eq!(aimd.limit(), 4);
        for i in 0..10 {
            window(&aimd, start + ms(300 + 60 * i), Duration::from_secs(1), MIN_SAMPLES);
        }
        assert_eq!(aimd.limit(), 2, "never below the minimum");
    }

    #[test]
    fn fast_windows_grow_the_limit_only_while_it_is_used() {
        let aimd = limiter(4);
        let start = aimd.shared.state.lock().unwrap().window_start;
        let ms = Duration::from_millis;
        for i in 1..=5 {
            window(&aimd, start + ms(60 * i), ms(1), MIN_SAMPLES);
        }
        assert_eq!(aimd.limit(), 4, "idle: no growth");
        let held: Vec<_> = (0..4).map(|_| aimd.try_acquire().unwrap()).collect();
        for i in 6..=10 {
            window(&aimd, start + ms(60 * i), ms(1), MIN_SAMPLES);
        }
        assert_eq!(aimd.limit(), 9, "one per used window");
        drop(held);
        for i in 11..=100 {
            let _busy: Vec<_> = (0..aimd.limit()).filter_map(|_| aimd.try_acquire()).collect();
            window(&aimd, start + ms(60 * i), ms(1), MIN_SAMPLES);
        }
        assert_eq!(aimd.limit(), 20, "never above the ceiling");
    }
}
