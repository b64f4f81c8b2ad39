//! Drives scenarios: open loop (a schedule that ignores the server) or closed loop (users
//! that wait for each answer), until the duration ends or a signal stops the run.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::sync::Notify;

use crate::{
    cli::{Arrival, Mode},
    mix::Mix,
    scenario::{Ctx, Scenario},
    schedule::Schedule,
    stats::Recorder,
};

/// Error kind of a scenario still running when the run had to end.
pub const UNFINISHED: &str = "unfinished at stop";

/// How to drive the run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    /// Open loop: starts per second.
    pub rate: f64,
    pub arrival: Arrival,
    /// Closed loop: concurrent users.
    pub users: usize,
    /// `None` runs until stopped.
    pub duration: Option<Duration>,
    pub ramp_up: Duration,
    pub seed: u64,
    /// Open loop: most scenarios in flight.
    pub max_in_flight: usize,
    /// After the duration, how long running scenarios may take to finish.
    pub drain: Duration,
}

/// A stop request (signal), visible to async tasks and to the dispatcher thread.
#[derive(Default)]
pub struct Stop {
    flag: AtomicBool,
    notify: Notify,
}

impl Stop {
    /// Asks everything to stop starting scenarios.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether a stop was asked for.
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is asked for.
    pub async fn wait(&self) {
        let notified = self.notify.notified();
        if !self.is_stopped() {
            notified.await;
        }
    }
}

/// Scenarios in flight, per scenario, so the ones cut off at the end can be reported.
#[derive(Default)]
struct InFlight([AtomicUsize; Scenario::ALL.len()]);

impl InFlight {
    fn slot(&self, s: Scenario) -> &AtomicUsize {
        &self.0[Scenario::ALL.iter().position(|x| *x == s).expect("listed scenario")]
    }
    fn total(&self) -> usize {
        self.0.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }
}

/// Runs one scenario and records it; latency counts from `since` (the scheduled start in
/// the open loop, the actual start in the closed loop).
async fn one(ctx: &Ctx, recorder: &Recorder, in_flight: &InFlight, scenario: Scenario, seed: u64, since: Instant) {
    let outcome = scenario.run(ctx, seed).await;
    recorder.record(scenario, since.elapsed(), outcome);
    in_flight.slot(scenario).fetch_sub(1, Ordering::SeqCst);
}

/// How long a run took.
#[derive(Debug, Clone, Copy)]
pub struct Times {
    /// From the first start until no more scenarios were started: rates are per this.
    pub window: Duration,
    /// From the first start until the last scenario finished (or was given up).
    pub elapsed: Duration,
}

/// Runs the plan.
pub async fn run(plan: Plan, mix: Mix, ctx: Arc<Ctx>, recorder: Arc<Recorder>, stop: Arc<Stop>) -> Times {
    let in_flight = Arc::new(InFlight::default());
    let start = Instant::now();
    match plan.mode {
        Mode::Open => {
            open_loop(
                &plan,
                mix,
                ctx,
                recorder.clone(),
                stop.clone(),
                in_flight.clone(),
                start,
            )
            .await
        }
        Mode::Closed => {
            closed_loop(
                &plan,
                mix,
                ctx,
                recorder.clone(),
                stop.clone(),
                in_flight.clone(),
                start,
            )
            .await
        }
    }
    // Without a signal, starts span exactly the duration (the schedule covers [0, d); closed-
    // loop users start nothing after it); after a signal, until now.
    let window = match plan.duration {
        Some(d) if !stop.is_stopped() => d,
        _ => start.elapsed(),
    };
    // Let running scenarios end: at most `drain` after the duration, 5 s after a signal.
    let grace = if stop.is_stopped() {
        Duration::from_secs(5)
    } else {
        plan.drain
    };
    let deadline = Instant::now() + grace;
    while in_flight.total() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for scenario in Scenario::ALL {
        for _ in 0..in_flight.slot(scenario).swap(0, Ordering::SeqCst) {
            recorder.record_unfinished(scenario, UNFINISHED);
        }
    }
    Times {
        window,
        elapsed: start.elapsed(),
    }
}

/// Starts scenarios on the schedule from a dedicated thread: an OS sleep is precise to
/// tens of microseconds where Tokio's timer rounds to a millisecond, and lateness here
/// would be charged to the server (latency counts from the scheduled time).
async fn open_loop(
    plan: &Plan,
    mix: Mix,
    ctx: Arc<Ctx>,
    recorder: Arc<Recorder>,
    stop: Arc<Stop>,
    in_flight: Arc<InFlight>,
    start: Instant,
) {
    let runtime = tokio::runtime::Handle::current();
    let plan = plan.clone();
    let dispatcher = std::thread::Builder::new()
        .name("dispatcher".into())
        .spawn(move || {
            let mut rng = StdRng::seed_from_u64(plan.seed);
            let schedule = Schedule::new(plan.rate, plan.ramp_up, plan.arrival, rng.random());
            for at in schedule {
                if plan.duration.is_some_and(|d| at >= d) {
                    return;
                }
                let due = start + at;
                loop {
                    if stop.is_stopped() {
                        return;
                    }
                    let now = Instant::now();
                    if now >= due {
                        break;
                    }
                    // Short naps so a stop is seen promptly even at low rates.
                    std::thread::sleep((due - now).min(Duration::from_millis(50)));
                }
                let scenario = mix.pick(&mut rng);
                let seed = rng.random();
                if in_flight.total() >= plan.max_in_flight {
                    recorder.record_overload(scenario);
                    continue;
                }
                recorder.record_lag(due.elapsed());
                in_flight.slot(scenario).fetch_add(1, Ordering::SeqCst);
                let (ctx, recorder, in_flight) = (ctx.clone(), recorder.clone(), in_flight.clone());
                runtime.spawn(async move { one(&ctx, &recorder, &in_flight, scenario, seed, due).await });
            }
        })
        .expect("spawn the dispatcher thread");
    // Wait for the thread without blocking a runtime worker.
    let _ = tokio::task::spawn_blocking(move || dispatcher.join()).await;
}

/// `plan.users` loops, each starting its next scenario when the last one ends.
async fn closed_loop(
    plan: &Plan,
    mix: Mix,
    ctx: Arc<Ctx>,
    recorder: Arc<Recorder>,
    stop: Arc<Stop>,
    in_flight: Arc<InFlight>,
    start: Instant,
) {
    let mut users = Vec::with_capacity(plan.users);
    let end = plan.duration.map(|d| start + d);
    for user in 0..plan.users {
        let (mix, ctx, recorder, stop, in_flight) = (
            mix.clone(),
            ctx.clone(),
            recorder.clone(),
            stop.clone(),
            in_flight.clone(),
        );
        let delay = plan.ramp_up.mul_f64(user as f64 / plan.users as f64);
        // Distinct, reproducible streams per user.
        let mut rng = StdRng::seed_from_u64(plan.seed ^ (user as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        users.push(tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop.wait() => return,
            }
            while !stop.is_stopped() && end.is_none_or(|end| Instant::now() < end) {
                let scenario = mix.pick(&mut rng);
                let seed = rng.random();
                in_flight.slot(scenario).fetch_add(1, Ordering::SeqCst);
                one(&ctx, &recorder, &in_flight, scenario, seed, Instant::now()).await;
            }
        }));
    }
    // Users end by themselves at the deadline; on a signal the caller's drain bounds the wait.
    let all = futures::future::join_all(users);
    tokio::select! {
        _ = all => {}
        _ = stop.wait() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_wakes_waiters_and_later_waits_return_at_once() {
        let stop = Arc::new(Stop::default());
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        tokio::task::yield_now().await;
        stop.stop();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), stop.wait()).await.unwrap();
    }
}
