//! The worker's housekeeping loops: the sweeper (jobs whose worker vanished) and retention.
//! Every worker runs both; the queries skip rows another worker holds.

use std::time::Duration;

use orator_core::db::maintenance::{self, Retention};
use sqlx::PgPool;
use tokio::sync::watch;

/// Jobs the sweeper returned to the queue or failed, by action.
pub const SWEPT: &str = "orator_jobs_swept_total";
/// Rows retention removed, by table.
pub const RETENTION_DELETED: &str = "orator_retention_deleted_total";
/// Unix time of each task's last pass without error.
pub const LAST_SUCCESS: &str = "orator_maintenance_last_success_timestamp_seconds";

/// Rows per statement: small enough that no lock is held for long.
const BATCH: i64 = 500;
/// Batches per retention pass, so one pass stays short even after a long outage.
const MAX_BATCHES: usize = 20;

/// Settings of both loops.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a job may stay `running` before it counts as abandoned.
    pub lease: Duration,
    /// Attempts a job may have.
    pub max_attempts: u32,
    /// How often the sweeper runs.
    pub sweep_every: Duration,
    /// How long finished data is kept.
    pub retention: Retention,
    /// How often retention runs.
    pub reap_every: Duration,
}

/// Describes the metrics and starts their counters at zero.
pub fn describe() {
    metrics::describe_counter!(
        SWEPT,
        "Jobs left running past their lease, requeued, failed or expired by the sweeper."
    );
    metrics::describe_counter!(RETENTION_DELETED, "Rows removed by retention, by table.");
    metrics::describe_gauge!(
        LAST_SUCCESS,
        metrics::Unit::Seconds,
        "Unix time of the last maintenance pass that completed without error, by task."
    );
    for action in ["requeued", "failed", "expired"] {
        metrics::counter!(SWEPT, "action" => action).increment(0);
    }
    for table in ["jobs", "audio", "outbox"] {
        metrics::counter!(RETENTION_DELETED, "table" => table).increment(0);
    }
}

/// Runs the sweeper and retention until `stop` turns true.
pub async fn run(pool: PgPool, settings: Settings, mut stop: watch::Receiver<bool>) {
    let mut sweep = tokio::time::interval(settings.sweep_every);
    let mut reap = tokio::time::interval(settings.reap_every);
    loop {
        tokio::select! {
            _ = sweep.tick() => sweep_once(&pool, &settings).await,
            _ = reap.tick() => reap_once(&pool, &settings).await,
            _ = stop.changed() => return,
        }
    }
}

async fn sweep_once(pool: &PgPool, s: &Settings) {
    match maintenance::sweep(pool, s.lease, s.max_attempts, BATCH).await {
        Ok(swept) => {
            if swept.requeued + swept.failed + swept.expired > 0 {
                tracing::warn!(
                    requeued = swept.requeued,
                    failed = swept.failed,
                    expired = swept.expired,
                    "swept jobs abandoned while running"
                );
            }
            metrics::counter!(SWEPT, "action" => "requeued").increment(swept.requeued);
            metrics::counter!(SWEPT, "action" => "failed").increment(swept.failed);
            metrics::counter!(SWEPT, "action" => "expired").increment(swept.expired);
            succeeded("sweeper");
        }
        Err(e) => tracing::warn!(error = %e, "sweep failed; trying again next time"),
    }
}

async fn reap_once(pool: &PgPool, s: &Settings) {
    for _ in 0..MAX_BATCHES {
        match maintenance::reap(pool, s.retention, BATCH).await {
            Ok(reaped) => {
                metrics::counter!(RETENTION_DELETED, "table" => "jobs").increment(reaped.jobs);
                metrics::counter!(RETENTION_DELETED, "table" => "audio").increment(reaped.audio);
                metrics::counter!(RETENTION_DELETED, "table" => "outbox").increment(reaped.outbox);
                if reaped.jobs.max(reaped.audio).max(reaped.outbox) < BATCH as u64 {
                    succeeded("retention");
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed; trying again next time");
                return;
            }
        }
    }
    // Still behind after the batch budget: the next pass continues.
    succeeded("retention");
}

fn succeeded(task: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    metrics::gauge!(LAST_SUCCESS, "task" => task).set(now.as_secs_f64());
}
