//! A circuit breaker: after `failures` failures in a row it opens for `open_for`, during
//! which calls fail at once; then one trial call decides whether it closes or opens again.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// When a [`Breaker`] opens, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// How long it stays open before a trial call.
    pub open_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out.
    Trial,
}

/// The breaker; clones share it. Its state is published in the gauge `gauge` (1 = open).
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    gauge: &'static str,
    state: Arc<Mutex<State>>,
}

/// Permission for one call; report how it went. Dropped without a verdict, it is neutral.
#[must_use]
pub struct Call<'a> {
    breaker: &'a Breaker,
    trial: bool,
    settled: bool,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig, gauge: &'static str) -> Self {
        metrics::gauge!(gauge).set(0.0);
        Self {
            config,
            gauge,
            state: Arc::new(Mutex::new(State::Closed { failures: 0 })),
        }
    }

    /// A call may go ahead, unless the breaker is open (or its trial call is out).
    pub fn try_call(&self) -> Option<Call<'_>> {
        let mut state = self.state.lock().expect("breaker poisoned");
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() >= until => {
                *state = State::Trial;
                true
            }
            State::Open { .. } | State::Trial => return None,
        };
        Some(Call {
            breaker: self,
            trial,
            settled: false,
        })
    }

    /// True while calls are refused.
    pub fn is_open(&self) -> bool {
        !matches!(*self.state.lock().expect("breaker poisoned"), State::Closed { .. })
    }

    fn set(&self, state: &mut State, new: State) {
        let was_open = !matches!(*state, State::Closed { .. });
        let is_open = !matches!(new, State::Closed { .. });
        *state = new;
        if was_open != is_open {
            metrics::gauge!(self.gauge).set(if is_open { 1.0 } else { 0.0 });
            if is_open {
                tracing::warn!(
                    breaker = self.gauge,
                    open_for_ms = self.config.open_for.as_millis() as u64,
                    "circuit breaker opened"
                );
            } else {
                tracing::info!(breaker = self.gauge, "circuit breaker closed");
            }
        }
    }
}

impl Call<'_> {
    /// The call worked: the breaker closes.
    pub fn succeeded(mut self) {
        self.settled = true;
        let mut state = self.breaker.state.lock().expect("breaker poisoned");
        self.breaker.set(&mut state, State::Closed { failures: 0 });
    }

    /// The call failed: one more towards opening (or open again after a failed trial).
    pub fn failed(mut self) {
        self.settled = true;
        let b = self.breaker;
        let mut state = b.state.lock().expect("breaker poisoned");
        let open = State::Open {
            until: Instant::now() + b.config.open_for,
        };
        let next = match *state {
            State::Closed { failures } if failures + 1 < b.config.failures => State::Closed { failures: failures + 1 },
            State::Closed { .. } | State::Trial => open,
            State::Open { until } => State::Open { until },
        };
        b.set(&mut state, next);
    }

    /// The call says nothing about health (e.g. it was refused locally).
    pub fn neutral(self) {}
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if self.trial && !self.settled {
            // The trial told us nothing: let the next call try.
            let mut state = self.breaker.state.lock().expect("breaker poisoned");
            if *state == State::Trial {
                *state = State::Open { until: Instant::now() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(open_for_ms: u64) -> Breaker {
        Breaker::new(
            BreakerConfig {
                failures: 3,
                open_for: Duration::from_millis(open_for_ms),
            },
            "test_breaker_open",
        )
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker(60_000);
        b.try_call().unwrap().failed();
        b.try_call().unwrap().failed();
        b.try_call().unwrap().succeeded();
        b.try_call().unwrap().failed();
        b.try_call().unwrap().failed();
        assert!(!b.is_open(), "a success in between resets the count");
        b.try_call().unwrap().failed();
        assert!(b.is_open());
        assert!(b.try_call().is_none(), "open: refused at once");
    }

    #[test]
    fn one_trial_after_the_cool_down_decides() {
        let b = breaker(0);
        for _ in 0..3 {
            b.try_call().unwrap().failed();
        }
        let trial = b.try_call().expect("cool-down over: a trial");
        assert!(b.try_call().is_none(), "only one trial at a time");
        trial.failed();
        assert!(b.is_open(), "failed trial opens again");
        let trial = b.try_call().expect("another trial");
        drop(trial);
        b.try_call()
            .expect("a trial with no verdict lets the next one try")
            .succeeded();
        assert!(!b.is_open());
        b.try_call().unwrap().neutral();
        assert!(!b.is_open());
    }
}
