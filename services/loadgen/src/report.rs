//! The end-of-run summary: a table for people, JSON for scripts.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{
    cli::{Arrival, Mode},
    stats::{ScenarioStats, Stats},
};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    /// Reads the histogram; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                p50: 0,
                p90: 0,
                p95: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
            };
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Finished (or refused) scenarios.
    pub count: u64,
    /// As expected.
    pub ok: u64,
    /// Not as expected.
    pub errors: u64,
    /// Finished scenarios per second of the run.
    pub rate: f64,
    /// Latency of finished scenarios, errors included.
    pub latency_us: Percentiles,
    /// Errors by kind (`status 503`, `timeout`, …).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Noteworthy successes by kind.
    pub notes: BTreeMap<&'static str, u64>,
}

impl Row {
    fn new(s: &ScenarioStats, elapsed: f64) -> Self {
        let count = s.count();
        Self {
            count,
            ok: s.ok,
            errors: s.error_count(),
            rate: if elapsed > 0.0 { count as f64 / elapsed } else { 0.0 },
            latency_us: Percentiles::of(&s.latency),
            errors_by_kind: s.errors.clone(),
            notes: s.notes.clone(),
        }
    }
}

/// How the run was driven.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub mode: Mode,
    /// Open loop only.
    pub arrival: Option<Arrival>,
    /// Open loop: scenario starts per second asked for.
    pub target_rate: Option<f64>,
    /// Closed loop only.
    pub users: Option<usize>,
    pub seed: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub run: RunInfo,
    /// Seconds during which scenarios were started; rates are per this window.
    pub window_s: f64,
    /// Seconds from the first start to the last completion.
    pub elapsed_s: f64,
    pub total: Row,
    pub scenarios: BTreeMap<&'static str, Row>,
    /// Open loop: lateness of starts against the schedule (µs); high values mean the load
    /// generator itself could not keep up and the figures overstate latency.
    pub schedule_lag_us: Option<Percentiles>,
}

impl Summary {
    /// Builds the summary of `stats` whose starts spanned `window`, completions `elapsed`.
    pub fn new(run: RunInfo, stats: &Stats, window: Duration, elapsed: Duration) -> Self {
        let secs = window.as_secs_f64();
        let mut all = ScenarioStats::default();
        let mut scenarios = BTreeMap::new();
        for (scenario, s) in &stats.scenarios {
            all.latency.add(&s.latency).expect("same histogram bounds");
            all.ok += s.ok;
            for (k, v) in &s.errors {
                *all.errors.entry(format!("{}: {k}", scenario.name())).or_default() += v;
            }
            for (k, v) in &s.notes {
                *all.notes.entry(k).or_default() += v;
            }
            scenarios.insert(scenario.name(), Row::new(s, secs));
        }
        let schedule_lag_us = (run.mode == Mode::Open && !stats.lag.is_empty()).then(|| Percentiles::of(&stats.lag));
        Self {
            run,
            window_s: secs,
            elapsed_s: elapsed.as_secs_f64(),
            total: Row::new(&all, secs),
            scenarios,
            schedule_lag_us,
        }
    }

    /// The JSON document (`--json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serialises")
    }

    /// The table for people.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let how = match self.run.mode {
            Mode::Open => format!(
                "open loop, {:?} arrivals at {} /s",
                self.run.arrival.unwrap_or(Arrival::Poisson),
                self.run.target_rate.unwrap_or_default()
            ),
            Mode::Closed => format!("closed loop, {} users", self.run.users.unwrap_or_default()),
        };
        let _ = writeln!(
            out,
            "{how}, {:.1} s (+{:.1} s to finish), seed {}",
            self.window_s,
            self.elapsed_s - self.window_s,
            self.run.seed
        );
        let _ = writeln!(
            out,
            "{:<9}{:>9}{:>9}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "scenario", "count", "ok", "errors", "rate/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let rows = self.scenarios.iter().map(|(n, r)| (*n, r));
        for (name, r) in rows.chain(std::iter::once(("total", &self.total))) {
            let l = &r.latency_us;
            let _ = writeln!(
                out,
                "{:<9}{:>9}{:>9}{:>8}{:>10.1}{:>10}{:>10}{:>10}{:>10}",
                name,
                r.count,
                r.ok,
                r.errors,
                r.rate,
                ms(l.p50),
                ms(l.p95),
                ms(l.p99),
                ms(l.max)
            );
        }
        if !self.total.errors_by_kind.is_empty() {
            let _ = writeln!(out, "errors by kind:");
            for (kind, n) in &self.total.errors_by_kind {
                let _ = writeln!(out, "  {kind}: {n}");
            }
        }
        for (name, r) in &self.scenarios {
            for (note, n) in &r.notes {
                let _ = writeln!(out, "note: {name}: {note}: {n}");
            }
        }
        if let Some(lag) = &self.schedule_lag_us {
            let _ = writeln!(
                out,
                "schedule lag (load generator): p50 {} ms, p99 {} ms, max {} ms",
                ms(lag.p50),
                ms(lag.p99),
                ms(lag.max)
            );
        }
        out
    }
}

/// Microseconds as milliseconds, three decimals below 100 ms.
fn ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    if v < 100.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        scenario::{Outcome, Scenario},
        stats::Recorder,
    };

    use super::*;

    fn run() -> RunInfo {
        RunInfo {
            mode: Mode::Closed,
            arrival: None,
            target_rate: None,
            users: Some(2),
            seed: 1,
        }
    }

    /// Within the histogram's 3 significant digits.
    fn close(actual: u64, expected: u64) -> bool {
        actual.abs_diff(expected) as f64 <= expected as f64 * 0.001 + 1.0
    }

    #[test]
    fn percentiles_of_a_uniform_run() {
        let rec = Recorder::default();
        for us in 1..=10_000u64 {
            rec.record(Scenario::List, Duration::from_micros(us), Outcome::Ok);
        }
        let s = Summary::new(run(), &rec.snapshot(), Duration::from_secs(10), Duration::from_secs(10));
        let l = s.scenarios["list"].latency_us;
        assert!(close(l.p50, 5_000), "{l:?}");
        assert!(close(l.p95, 9_500), "{l:?}");
        assert!(close(l.p99, 9_900), "{l:?}");
        assert!(close(l.p999, 9_990), "{l:?}");
        assert!(close(l.max, 10_000), "{l:?}");
        assert!((s.total.rate - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn a_slow_tail_shows_in_p99_not_p50() {
        let rec = Recorder::default();
        for _ in 0..980 {
            rec.record(Scenario::Hit, Duration::from_micros(800), Outcome::Ok);
        }
        for _ in 0..20 {
            rec.record(Scenario::Hit, Duration::from_millis(250), Outcome::Ok);
        }
        let l = Summary::new(run(), &rec.snapshot(), Duration::from_secs(1), Duration::from_secs(1)).scenarios["hit"]
            .latency_us;
        assert!(close(l.p50, 800) && close(l.p95, 800), "{l:?}");
        assert!(close(l.p99, 250_000), "{l:?}");
    }

    #[test]
    fn errors_are_counted_by_kind_and_totalled() {
        let rec = Recorder::default();
        rec.record(Scenario::Bad, Duration::from_millis(1), Outcome::Ok);
        rec.record(
            Scenario::Bad,
            Duration::from_millis(1),
            Outcome::Error("status 200, expected 401".into()),
        );
        rec.record(
            Scenario::Miss,
            Duration::from_secs(30),
            Outcome::Error("timeout".into()),
        );
        rec.record(Scenario::Hit, Duration::from_millis(2), Outcome::Note("cache miss"));
        rec.record_overload(Scenario::Miss);
        let s = Summary::new(run(), &rec.snapshot(), Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(s.total.count, 5);
        assert_eq!(s.total.errors, 3);
        assert_eq!(s.scenarios["miss"].errors_by_kind["timeout"], 1);
        assert_eq!(s.scenarios["miss"].count, 2);
        assert_eq!(s.total.errors_by_kind["bad: status 200, expected 401"], 1);
        assert_eq!(s.scenarios["hit"].notes["cache miss"], 1);
        let table = s.to_table();
        assert!(table.contains("bad: status 200, expected 401: 1"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["scenarios"]["miss"]["errors"], 2);
        assert_eq!(json["mode"], "closed");
    }
}
