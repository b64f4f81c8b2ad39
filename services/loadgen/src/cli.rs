//! Command-line flags.

use std::time::Duration;

use clap::{Parser, ValueEnum};

use crate::mix::Mix;

/// Realistic traffic for Orator: a weighted mix of scenarios, open or closed loop, with
/// HDR latency percentiles per scenario.
#[derive(Debug, Parser)]
#[command(name = "orator-loadgen", version, about, long_about = None)]
pub struct Args {
    /// Base URL of the api.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub url: String,

    /// API key sent as `Authorization: Bearer <key>`.
    #[arg(long, env = "ORATOR_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// open: requests start on a schedule whatever the server does (latency counts from the
    /// scheduled start, so a slow server cannot hide its queue). closed: `--users` loops,
    /// each sending its next request when the previous one ends (finds the maximum rate).
    #[arg(long, value_enum, default_value_t = Mode::Open)]
    pub mode: Mode,

    /// Open loop: scenario starts per second (after the ramp-up).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,

    /// Open loop: arrival process. poisson spaces starts randomly (exponential gaps), as
    /// independent clients do; fixed spaces them evenly.
    #[arg(long, value_enum, default_value_t = Arrival::Poisson)]
    pub arrival: Arrival,

    /// Closed loop: concurrent users.
    #[arg(long, default_value_t = 8)]
    pub users: usize,

    /// How long to run, e.g. 30s, 2m, 500ms; 0 runs until SIGINT/SIGTERM.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Open loop: the rate climbs linearly from 0 over this time. Closed loop: users start
    /// evenly spread over it.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub ramp_up: Duration,

    /// Seed of the scenario sequence and arrival schedule (texts stay unique per run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Scenario weights: hit (cached sync speech), miss (uncached sync speech), job (async
    /// job, polled, then its audio fetched), list (voices or models), bad (401, 400 or 404
    /// on purpose), submit (POST /v1/jobs only).
    #[arg(long, default_value = "hit=40,miss=10,job=20,list=20,bad=10")]
    pub mix: Mix,

    /// Voice of the speech scenarios.
    #[arg(long, default_value = "alloy")]
    pub voice: String,

    /// response_format of the speech scenarios.
    #[arg(long, default_value = "mp3")]
    pub format: String,

    /// Number of distinct texts the hit scenario repeats (warmed into the cache first).
    #[arg(long, default_value_t = 8)]
    pub hit_texts: usize,

    /// Job scenario: time between status polls.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Job scenario: give up on a job that has not ended after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub job_timeout: Duration,

    /// Timeout of each HTTP request.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Open loop: most scenarios in flight; a start beyond it is counted as an
    /// `overload` error instead of queueing (which would hide the server's slowness).
    #[arg(long, default_value_t = 10_000)]
    pub max_in_flight: usize,

    /// Print a machine-readable JSON summary on stdout (the table goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// No progress bar (it is also off when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,

    /// Print the first N texts the miss scenario would send, one a line, and exit (to
    /// time the raw engine on the same texts).
    #[arg(long, value_name = "N")]
    pub emit_texts: Option<usize>,
}

/// How requests are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Constant arrival rate.
    Open,
    /// A fixed number of users.
    Closed,
}

/// Open-loop arrival process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Exponentially distributed gaps.
    Poisson,
    /// Equal gaps.
    Fixed,
}

/// Parses `250ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 500ms, 30s, 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?}: use ms, s, m or h")),
    };
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("{s:?} must be zero or more"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn flags_parse() {
        let args = Args::try_parse_from([
            "orator-loadgen",
            "--mode",
            "closed",
            "--users",
            "4",
            "--duration",
            "0",
            "--mix",
            "hit=1",
        ])
        .unwrap();
        assert_eq!(args.mode, Mode::Closed);
        assert_eq!(args.duration, Duration::ZERO);
        assert_eq!(args.users, 4);
    }
}
