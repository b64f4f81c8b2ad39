//! Housekeeping queries: the sweeper that rescues jobs whose worker vanished, and the
//! retention reaper. Both work in small batches with `SKIP LOCKED`, so any number of
//! workers can run them at once and none holds locks for long.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use super::{JOB_DONE_CHANNEL, begin, timed};
use crate::{failure::JobFailure, queue::JobMessage};

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Returned to the queue (a new outbox row) for another attempt.
    pub requeued: u64,
    /// Out of attempts: failed for good.
    pub failed: u64,
    /// Sync jobs, whose callers had gone: expired.
    pub expired: u64,
}

/// Jobs `running` for longer than `lease` have lost their worker (killed, or it could not
/// record the outcome): async ones with attempts left go back to the queue through the
/// outbox, the others fail as `abandoned`, and sync ones expire. Handles at most `batch`.
pub async fn sweep(pool: &PgPool, lease: Duration, max_attempts: u32, batch: i64) -> Result<Swept, sqlx::Error> {
    let mut tx = begin(pool).await?;
    let stale = sqlx::query_as::<_, (Uuid, i32, String)>(
        "SELECT id, attempts, mode FROM jobs
         WHERE status = 'running' AND started_at < now() - make_interval(secs => $1)
         ORDER BY started_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(lease.as_secs_f64())
    .bind(batch);
    let stale = timed("SELECT", "jobs", stale.fetch_all(&mut *tx)).await?;
    // A sync job's caller stopped waiting long before its lease ran out (the sync timeout is
    // far shorter): it ends like any sync job nobody waits for, unsynthesised.
    let (sync, stale): (Vec<_>, Vec<_>) = stale.into_iter().partition(|(_, _, mode)| mode == "sync");
    let (retry, out_of_attempts): (Vec<_>, Vec<_>) = stale.into_iter().partition(|(_, a, _)| *a < max_attempts as i32);
    let ids = |jobs: Vec<(Uuid, i32, String)>| jobs.into_iter().map(|(id, ..)| id).collect::<Vec<Uuid>>();
    let (sync, retry, give_up) = (ids(sync), ids(retry), ids(out_of_attempts));
    if !retry.is_empty() {
        let requeue =
            sqlx::query("UPDATE jobs SET status = 'queued', updated_at = now() WHERE id = ANY($1)").bind(&retry);
        timed("UPDATE", "jobs", requeue.execute(&mut *tx)).await?;
        let payloads: Vec<serde_json::Value> = retry
            .iter()
            .map(|&job_id| {
                serde_json::to_value(JobMessage {
                    job_id,
                    deadline_ms: None,
                })
                .expect("job message serialises")
            })
            .collect();
        let outbox = sqlx::query("INSERT INTO outbox (job_id, payload) SELECT * FROM unnest($1::uuid[], $2::jsonb[])")
            .bind(&retry)
            .bind(&payloads);
        timed("INSERT", "outbox", outbox.execute(&mut *tx)).await?;
    }
    for (jobs, status, failure) in [
        (&give_up, "failed", JobFailure::Abandoned),
        (&sync, "expired", JobFailure::Expired),
    ] {
        if jobs.is_empty() {
            continue;
        }
        let end = sqlx::query(
            "UPDATE jobs SET status = $2, error = $3, error_code = $4, updated_at = now(), finished_at = now()
             WHERE id = ANY($1)",
        )
        .bind(jobs)
        .bind(status)
        .bind(failure.message())
        .bind(failure.code());
        timed("UPDATE", "jobs", end.execute(&mut *tx)).await?;
        let notify = sqlx::query("SELECT pg_notify($1, id::text) FROM unnest($2::uuid[]) AS id")
            .bind(JOB_DONE_CHANNEL)
            .bind(jobs);
        timed("NOTIFY", "jobs", notify.execute(&mut *tx)).await?;
    }
    tx.commit().await?;
    Ok(Swept {
        requeued: retry.len() as u64,
        failed: give_up.len() as u64,
        expired: sync.len() as u64,
    })
}

/// How long finished data is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Audio bytes; their jobs stay and answer `audio_expired`.
    pub audio: Duration,
    /// Finished jobs (their input text included).
    pub jobs: Duration,
    /// Published outbox rows.
    pub outbox: Duration,
}

/// Rows one reaper pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// Finished jobs.
    pub jobs: u64,
    /// Audio rows (expired, or no longer referenced by any job).
    pub audio: u64,
    /// Published outbox rows.
    pub outbox: u64,
}

/// Audio no job refers to is kept this long before it counts as an orphan, so the reaper
/// never races a job that is about to link it.
const ORPHAN_GRACE_SECS: f64 = 600.0;

/// Removes one batch of each kind of expired row.
pub async fn reap(pool: &PgPool, keep: Retention, batch: i64) -> Result<Reaped, sqlx::Error> {
    let mut reaped = Reaped::default();

    let mut tx = begin(pool).await?;
    let expired = sqlx::query_as::<_, (Uuid,)>(
        "SELECT id FROM audio WHERE created_at < now() - make_interval(secs => $1)
         ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(keep.audio.as_secs_f64())
    .bind(batch);
    let expired: Vec<Uuid> = timed("SELECT", "audio", expired.fetch_all(&mut *tx))
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    if !expired.is_empty() {
        // Unlinked first: the foreign key would refuse the delete, and the jobs stay to say
        // their audio expired.
        let unlink =
            sqlx::query("UPDATE jobs SET audio_id = NULL, updated_at = now() WHERE audio_id = ANY($1)").bind(&expired);
        timed("UPDATE", "jobs", unlink.execute(&mut *tx)).await?;
        let delete = sqlx::query("DELETE FROM audio WHERE id = ANY($1)").bind(&expired);
        reaped.audio += timed("DELETE", "audio", delete.execute(&mut *tx))
            .await?
            .rows_affected();
    }
    tx.commit().await?;

    let mut tx = begin(pool).await?;
    let jobs = sqlx::query(
        "DELETE FROM jobs WHERE id IN (
           SELECT id FROM jobs WHERE finished_at < now() - make_interval(secs => $1)
           ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(keep.jobs.as_secs_f64())
    .bind(batch);
    reaped.jobs = timed("DELETE", "jobs", jobs.execute(&mut *tx)).await?.rows_affected();
    // Audio whose jobs were all deleted (here, by their owner, or above).
    let orphans = sqlx::query(
        "DELETE FROM audio WHERE id IN (
           SELECT a.id FROM audio a
           WHERE a.created_at < now() - make_interval(secs => $1)
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.audio_id = a.id)
           LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(ORPHAN_GRACE_SECS.min(keep.audio.as_secs_f64()))
    .bind(batch);
    reaped.audio += timed("DELETE", "audio", orphans.execute(&mut *tx))
        .await?
        .rows_affected();
    tx.commit().await?;

    let mut tx = begin(pool).await?;
    let outbox = sqlx::query(
        "DELETE FROM outbox WHERE id IN (
           SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1)
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind(keep.outbox.as_secs_f64())
    .bind(batch);
    reaped.outbox = timed("DELETE", "outbox", outbox.execute(&mut *tx))
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(reaped)
}
