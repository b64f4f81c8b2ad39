//! Results as they arrive: a latency histogram (microseconds), successes, notes and errors
//! by kind, per scenario; plus live counters for the progress bar.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;

use crate::scenario::{Outcome, Scenario};

/// Error kind of a start refused by `--max-in-flight`.
pub const OVERLOAD: &str = "overload (client in-flight cap)";

/// A latency histogram from 1 µs to 1 h with 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Results of one scenario.
#[derive(Debug, Clone)]
pub struct ScenarioStats {
    /// Latency of every completed scenario, errors included, in microseconds.
    pub latency: Histogram<u64>,
    /// Completed as expected.
    pub ok: u64,
    /// Noteworthy successes by kind.
    pub notes: BTreeMap<&'static str, u64>,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
}

impl Default for ScenarioStats {
    fn default() -> Self {
        Self {
            latency: histogram(),
            ok: 0,
            notes: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }
}

impl ScenarioStats {
    /// Completed or refused scenarios.
    pub fn count(&self) -> u64 {
        self.ok + self.error_count()
    }

    /// Failures of any kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Everything recorded during a run.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Per scenario.
    pub scenarios: BTreeMap<Scenario, ScenarioStats>,
    /// Open loop: how late each start was against its schedule, in microseconds (the load
    /// generator's own health; it is part of every measured latency).
    pub lag: Histogram<u64>,
}

/// Collects results from every task.
pub struct Recorder {
    stats: Mutex<Stats>,
    done: AtomicU64,
    errors: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            stats: Mutex::new(Stats {
                scenarios: BTreeMap::new(),
                lag: histogram(),
            }),
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl Recorder {
    /// Records one finished scenario.
    pub fn record(&self, scenario: Scenario, latency: Duration, outcome: Outcome) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let mut stats = self.stats.lock().expect("stats lock");
        let s = stats.scenarios.entry(scenario).or_default();
        s.latency.saturating_record(micros(latency));
        match outcome {
            Outcome::Ok => s.ok += 1,
            Outcome::Note(note) => {
                s.ok += 1;
                *s.notes.entry(note).or_default() += 1;
            }
            Outcome::Error(kind) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                *s.errors.entry(kind).or_default() += 1;
            }
        }
    }

    /// Records a start the client refused (never sent, so no latency).
    pub fn record_overload(&self, scenario: Scenario) {
        self.record_unfinished(scenario, OVERLOAD);
    }

    /// Records a scenario that has no latency to report (refused, or cut off at the end).
    pub fn record_unfinished(&self, scenario: Scenario, kind: &str) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut stats = self.stats.lock().expect("stats lock");
        let s = stats.scenarios.entry(scenario).or_default();
        *s.errors.entry(kind.to_owned()).or_default() += 1;
    }

    /// Records how late a scheduled start was.
    pub fn record_lag(&self, lag: Duration) {
        self.stats
            .lock()
            .expect("stats lock")
            .lag
            .saturating_record(micros(lag));
    }

    /// Finished scenarios so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// Failed scenarios so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// A copy of everything recorded.
    pub fn snapshot(&self) -> Stats {
        self.stats.lock().expect("stats lock").clone()
    }
}
