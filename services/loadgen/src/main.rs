//! orator-loadgen: realistic traffic for Orator. See `--help`, and docs/benchmarks.md for
//! how the benchmark suite uses it.

mod cli;
mod mix;
mod progress;
mod report;
mod runner;
mod scenario;
mod schedule;
mod stats;

use std::{sync::Arc, time::Duration};

use anyhow::{Context, bail};
use clap::Parser;

use crate::{
    cli::{Args, Mode},
    progress::Progress,
    report::{RunInfo, Summary},
    runner::{Plan, Stop},
    scenario::{Ctx, Scenario, Texts},
    stats::Recorder,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Unique per run (not from --seed): a rerun must not find its "misses" in the cache.
    let texts = Texts::new(rand::random_range(0..1_000_000));
    if let Some(n) = args.emit_texts {
        for i in 0..n as u64 {
            println!("{}", texts.nth(i));
        }
        return Ok(());
    }
    check(&args)?;

    let client = reqwest::Client::builder()
        .user_agent(concat!("orator-loadgen/", env!("CARGO_PKG_VERSION")))
        .timeout(args.timeout)
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")?;
    let ctx = Arc::new(Ctx {
        client,
        url: args.url.trim_end_matches('/').to_owned(),
        api_key: args.api_key.clone().unwrap_or_default(),
        voice: args.voice.clone(),
        format: args.format.clone(),
        hit_texts: scenario::hit_texts(args.hit_texts),
        texts,
        poll_interval: args.poll_interval,
        job_timeout: args.job_timeout,
    });
    if args.mix.contains(Scenario::Hit) {
        prime(&ctx).await;
    }

    let stop = Arc::new(Stop::default());
    tokio::spawn(on_signal(stop.clone()));
    let duration = (!args.duration.is_zero()).then_some(args.duration);
    let recorder = Arc::new(Recorder::default());
    let progress = Progress::start(recorder.clone(), duration, args.no_progress);
    let plan = Plan {
        mode: args.mode,
        rate: args.rate,
        arrival: args.arrival,
        users: args.users,
        duration,
        ramp_up: args.ramp_up,
        seed: args.seed,
        max_in_flight: args.max_in_flight,
        drain: args.timeout.max(args.job_timeout),
    };
    let times = runner::run(plan, args.mix.clone(), ctx, recorder.clone(), stop).await;
    if let Some(p) = progress {
        p.finish();
    }

    let open = args.mode == Mode::Open;
    let run = RunInfo {
        mode: args.mode,
        arrival: open.then_some(args.arrival),
        target_rate: open.then_some(args.rate),
        users: (!open).then_some(args.users),
        seed: args.seed,
    };
    let summary = Summary::new(run, &recorder.snapshot(), times.window, times.elapsed);
    if args.json {
        eprint!("{}", summary.to_table());
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.to_table());
    }
    Ok(())
}

/// Rejects flag combinations that cannot work, before any traffic.
fn check(args: &Args) -> anyhow::Result<()> {
    let needs_key = args.mix.scenarios().any(|s| s != Scenario::Bad);
    if needs_key && args.api_key.as_deref().is_none_or(str::is_empty) {
        bail!("set --api-key or ORATOR_API_KEY (only a mix of bad requests runs without one)");
    }
    match args.mode {
        Mode::Open if !(args.rate > 0.0 && args.rate.is_finite()) => bail!("--rate must be positive"),
        Mode::Closed if args.users == 0 => bail!("--users must be at least 1"),
        _ => {}
    }
    if args.mix.contains(Scenario::Hit) && args.hit_texts == 0 {
        bail!("--hit-texts must be at least 1 when the mix has hits");
    }
    Ok(())
}

/// Puts the hit texts into the cache so the hit scenario measures hits. Not recorded.
async fn prime(ctx: &Ctx) {
    let results = futures::future::join_all(ctx.hit_texts.iter().map(|t| scenario::prime(ctx, t))).await;
    let failed: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    if !failed.is_empty() {
        eprintln!(
            "warning: {} of {} hit texts could not be cached first ({}); hits may be misses",
            failed.len(),
            ctx.hit_texts.len(),
            failed[0]
        );
    }
}

/// First SIGINT/SIGTERM: stop starting scenarios and report. Second: leave at once.
async fn on_signal(stop: Arc<Stop>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    stop.stop();
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    std::process::exit(130);
}
