//! Admission control: what the api refuses at once, before any Redis or PostgreSQL work,
//! so that past its capacity it keeps serving that capacity and tells the rest to come back.
//!
//! Three budgets: work in flight in this process (an adaptive [`Aimd`] limit under a fixed
//! ceiling), sync requests waiting for synthesis (each holds a connection for seconds), and
//! the queue's backlog (jobs the workers cannot finish within the job-latency objective).

mod aimd;

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

pub use aimd::{Aimd, AimdConfig, Slot};
use sqlx::PgPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// /v1 requests admitted and in progress.
pub const IN_FLIGHT: &str = "orator_admission_in_flight";
/// The adaptive in-flight limit.
pub const LIMIT: &str = "orator_admission_limit";
/// Requests refused with 503, by route and reason.
pub const REJECTED: &str = "orator_admission_rejected_total";
/// Sync speech jobs being waited on.
pub const SYNC_WAITERS: &str = "orator_admission_sync_waiters";

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The in-flight limit is reached.
    InFlight,
    /// Every sync-waiter slot is taken.
    SyncWaiters,
    /// The job backlog is beyond what workers finish within the objective.
    Backlog,
    /// The Redis pool is saturated: we are overloaded, not Redis down.
    CacheBusy,
}

impl Reason {
    /// Every reason, for zero-initialised counters.
    pub const ALL: [Reason; 4] = [Self::InFlight, Self::SyncWaiters, Self::Backlog, Self::CacheBusy];

    /// Metric label and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InFlight => "in_flight",
            Self::SyncWaiters => "sync_waiters",
            Self::Backlog => "backlog",
            Self::CacheBusy => "cache_busy",
        }
    }

    /// What the caller is told.
    pub fn message(self) -> &'static str {
        match self {
            Self::InFlight => "the server is at capacity; retry after the delay in Retry-After",
            Self::SyncWaiters => {
                "too many requests are waiting for synthesis; retry later, or submit POST /v1/jobs and poll the job"
            }
            Self::Backlog => "the job queue is longer than the workers can finish in time; retry after Retry-After",
            Self::CacheBusy => "the server is overloaded; retry after the delay in Retry-After",
        }
    }
}

/// A refusal: why, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", reason.message())]
pub struct Rejection {
    /// Why.
    pub reason: Reason,
    /// The `Retry-After` to send.
    pub retry_after: Duration,
}

impl Rejection {
    /// A refusal for `reason` with its configured delay.
    fn new(reason: Reason, retry_after: Duration) -> Self {
        Self { reason, retry_after }
    }

    /// Refusal for a saturated cache pool.
    pub fn cache_busy() -> Self {
        Self::new(Reason::CacheBusy, Duration::from_secs(1))
    }
}

/// Settings of the three budgets.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionConfig {
    /// The adaptive in-flight limit.
    pub in_flight: AimdConfig,
    /// Sync requests that may wait for synthesis at once.
    pub max_sync_waiters: usize,
    /// Queued jobs beyond which new jobs are refused.
    pub max_queued_jobs: i64,
    /// How often the backlog is read from PostgreSQL.
    pub backlog_poll: Duration,
}

/// The api's admission state; clones share it.
#[derive(Clone)]
pub struct Admission {
    config: AdmissionConfig,
    in_flight: Aimd,
    waiters: Arc<Semaphore>,
    queued: Arc<AtomicI64>,
}

/// A sync waiter's slot; the gauge follows it.
#[derive(Debug)]
pub struct WaiterSlot {
    _permit: OwnedSemaphorePermit,
    waiters: Arc<Semaphore>,
    max: usize,
}

impl Drop for WaiterSlot {
    fn drop(&mut self) {
        // The permit is returned after this body runs, hence the - 1.
        let used = self.max - self.waiters.available_permits() - 1;
        metrics::gauge!(SYNC_WAITERS).set(used as f64);
    }
}

impl Admission {
    /// Budgets from `config`; call [`Admission::watch_backlog`] to keep the backlog fresh.
    pub fn new(config: AdmissionConfig) -> Self {
        metrics::gauge!(LIMIT).set(config.in_flight.initial as f64);
        Self {
            in_flight: Aimd::new(config.in_flight),
            waiters: Arc::new(Semaphore::new(config.max_sync_waiters)),
            queued: Arc::default(),
            config,
        }
    }

    /// Describes the admission metrics and zero-fills them (with `routes` for the counter).
    pub fn describe(routes: &[&'static str]) {
        metrics::describe_gauge!(IN_FLIGHT, "/v1 requests admitted and in progress in this process.");
        metrics::describe_gauge!(LIMIT, "Current adaptive limit on /v1 requests in flight.");
        metrics::describe_counter!(
            REJECTED,
            "Requests refused with 503 before any work, by route and reason."
        );
        metrics::describe_gauge!(
            SYNC_WAITERS,
            "Sync speech jobs being waited on (sync-waiter slots in use)."
        );
        metrics::gauge!(SYNC_WAITERS).set(0.0);
        metrics::gauge!(IN_FLIGHT).set(0.0);
        for route in routes {
            for reason in Reason::ALL {
                metrics::counter!(REJECTED, "route" => *route, "reason" => reason.as_str()).increment(0);
            }
        }
    }

    /// A slot of the in-flight budget, or the refusal.
    pub fn enter(&self) -> Result<Slot, Rejection> {
        let slot = self.in_flight.try_acquire();
        self.left();
        slot.ok_or(Rejection::new(Reason::InFlight, Duration::from_secs(1)))
    }

    /// Publishes the in-flight and limit gauges (after a slot was taken or given back).
    pub fn left(&self) {
        metrics::gauge!(IN_FLIGHT).set(self.in_flight.in_flight() as f64);
        metrics::gauge!(LIMIT).set(self.in_flight.limit() as f64);
    }

    /// A sync-waiter slot, or the refusal that points to `POST /v1/jobs`.
    pub fn wait_slot(&self) -> Result<WaiterSlot, Rejection> {
        let permit = self
            .waiters
            .clone()
            .try_acquire_owned()
            .map_err(|_| Rejection::new(Reason::SyncWaiters, Duration::from_secs(2)))?;
        let used = self.config.max_sync_waiters - self.waiters.available_permits();
        metrics::gauge!(SYNC_WAITERS).set(used as f64);
        Ok(WaiterSlot {
            _permit: permit,
            waiters: self.waiters.clone(),
            max: self.config.max_sync_waiters,
        })
    }

    /// Refuses new jobs while the backlog is over its bound.
    pub fn check_backlog(&self) -> Result<(), Rejection> {
        if self.queued.load(Ordering::Relaxed) > self.config.max_queued_jobs {
            // About how long the backlog takes to fall back under the bound at the
            // objective's pace; clients that honour it do not retry into the same queue.
            return Err(Rejection::new(Reason::Backlog, Duration::from_secs(10)));
        }
        Ok(())
    }

    /// Sets the backlog as last read (tests and the poller).
    pub fn set_queued(&self, queued: i64) {
        self.queued.store(queued, Ordering::Relaxed);
    }

    /// Reads the number of queued jobs every `backlog_poll`, forever. A failed read keeps
    /// the last value: PostgreSQL trouble shows up in the job writes themselves.
    pub async fn watch_backlog(self, pool: PgPool) {
        let mut tick = tokio::time::interval(self.config.backlog_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Ok(n) = crate::db::jobs::count_queued(&pool).await {
                self.set_queued(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(waiters: usize) -> Admission {
        Admission::new(AdmissionConfig {
            in_flight: AimdConfig {
                min: 1,
                max: 4,
                initial: 2,
                latency_target: Duration::from_millis(50),
                backoff: 0.9,
            },
            max_sync_waiters: waiters,
            max_queued_jobs: 10,
            backlog_poll: Duration::from_secs(1),
        })
    }

    #[test]
    fn waiter_slots_are_bounded_and_returned_on_drop() {
        let a = admission(2);
        let one = a.wait_slot().unwrap();
        let _two = a.wait_slot().unwrap();
        let refused = a.wait_slot().unwrap_err();
        assert_eq!(refused.reason, Reason::SyncWaiters);
        assert!(refused.to_string().contains("POST /v1/jobs"), "{refused}");
        drop(one);
        assert!(a.wait_slot().is_ok());
    }

    #[test]
    fn backlog_over_the_bound_is_refused() {
        let a = admission(1);
        a.set_queued(10);
        assert!(a.check_backlog().is_ok());
        a.set_queued(11);
        let refused = a.check_backlog().unwrap_err();
        assert_eq!(refused.reason, Reason::Backlog);
        assert!(refused.retry_after >= Duration::from_secs(1));
    }

    #[test]
    fn in_flight_is_refused_past_the_limit() {
        let a = admission(1);
        let _x = a.enter().unwrap();
        let _y = a.enter().unwrap();
        assert_eq!(a.enter().unwrap_err().reason, Reason::InFlight);
    }
}
