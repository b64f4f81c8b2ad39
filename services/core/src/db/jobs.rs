//! Speech jobs.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{JOB_DONE_CHANNEL, acquire, audio, begin, timed};
use crate::{
    domain::{JobMode, JobStatus, SpeechSpec},
    failure::{JobFailure, StoredFailure},
    queue::JobMessage,
};

const TABLE: &str = "jobs";

/// A job as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Job {
    /// UUIDv7, time-ordered.
    pub id: Uuid,
    /// Owner.
    pub api_key_id: Option<Uuid>,
    /// `sync` or `async`.
    #[sqlx(try_from = "String")]
    pub mode: ModeColumn,
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub status: StatusColumn,
    /// Requested model.
    pub model: String,
    /// Engine.
    pub engine: String,
    /// Engine voice.
    pub voice: String,
    /// Output format.
    pub format: String,
    /// Speed.
    pub speed: f32,
    /// Text to speak.
    pub input: String,
    /// Hex SHA-256 of the text.
    pub text_sha256: String,
    /// Text length in characters.
    pub text_length: i32,
    /// Content address of the audio.
    pub cache_key: String,
    /// Synthesis attempts so far.
    pub attempts: i32,
    /// Last error, safe to show.
    pub error: Option<String>,
    /// Stable code of the last error.
    pub error_code: Option<String>,
    /// Result.
    pub audio_id: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Reply queue of the api process a sync job's audio streams to.
    pub reply_to: Option<String>,
}

/// Wrapper so sqlx can decode the status column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusColumn(pub JobStatus);

impl TryFrom<String> for StatusColumn {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map(Self)
    }
}

/// Wrapper so sqlx can decode the mode column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeColumn(pub JobMode);

impl TryFrom<String> for ModeColumn {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "sync" => Ok(Self(JobMode::Sync)),
            "async" => Ok(Self(JobMode::Async)),
            _ => Err(format!("unknown job mode {s:?}")),
        }
    }
}

impl Job {
    /// Lifecycle state.
    pub fn status(&self) -> JobStatus {
        self.status.0
    }

    /// True when this job was made from the same request as `spec` (the idempotency check).
    pub fn is_for(&self, spec: &SpeechSpec) -> bool {
        self.model == spec.model.as_str()
            && self.engine == spec.engine
            && self.voice == spec.voice.as_str()
            && self.format == spec.format.as_str()
            && self.speed == spec.speed.get()
            && self.text_sha256 == spec.text.sha256()
    }

    /// The last error, if any.
    pub fn failure(&self) -> Option<StoredFailure> {
        stored(self.error_code.as_deref(), self.error.as_deref())
    }
}

fn stored(code: Option<&str>, message: Option<&str>) -> Option<StoredFailure> {
    message.map(|m| StoredFailure {
        code: code.unwrap_or("engine_failed").to_owned(),
        message: m.to_owned(),
    })
}

// sqlx accepts only static SQL, so the column list is spliced in with `concat!`.
macro_rules! columns {
    () => {
        "id, api_key_id, mode, status, model, engine, voice, format, speed, input, text_sha256, text_length, \
         cache_key, attempts, error, error_code, audio_id, created_at, updated_at, finished_at, reply_to"
    };
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// Chosen by the caller (UUIDv7), so it can wait for the job before it exists.
    pub id: Uuid,
    /// Validated request.
    pub spec: &'a SpeechSpec,
    /// Sync or async.
    pub mode: JobMode,
    /// Owner.
    pub api_key_id: Option<Uuid>,
    /// Client-chosen key that makes retries of the same request return the same job.
    pub idempotency_key: Option<&'a str>,
    /// When the caller stops waiting (sync jobs); travels in the message.
    pub deadline: Option<DateTime<Utc>>,
    /// Message headers for the outbox (trace context).
    pub headers: serde_json::Value,
    /// Where the worker streams the audio (sync jobs).
    pub reply_to: Option<&'a str>,
}

/// Creates a job and its outbox row in one statement (one round trip, one implicit
/// transaction). When the idempotency key was used before, returns that job and `false`.
pub async fn create(pool: &PgPool, new: NewJob<'_>) -> Result<(Job, bool), sqlx::Error> {
    let spec = new.spec;
    let message = JobMessage {
        job_id: new.id,
        deadline_ms: new.deadline.map(|d| d.timestamp_millis()),
    };
    let payload = serde_json::to_value(message).expect("job message serialises");
    let mut conn = acquire(pool).await?;
    let insert = sqlx::query_as::<_, Job>(concat!(
        "WITH job AS (
           INSERT INTO jobs (id, api_key_id, idempotency_key, mode, status, model, engine, voice, format, speed,
                             input, text_sha256, text_length, cache_key, reply_to)
           VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10, $11, $12, $13, $16)
           ON CONFLICT (api_key_id, idempotency_key) DO NOTHING
           RETURNING ",
        columns!(),
        "), queued AS (
           INSERT INTO outbox (job_id, payload, headers) SELECT id, $14, $15 FROM job
         )
         SELECT ",
        columns!(),
        " FROM job"
    ))
    .bind(new.id)
    .bind(new.api_key_id)
    .bind(new.idempotency_key)
    .bind(new.mode.as_str())
    .bind(spec.model.as_str())
    .bind(&spec.engine)
    .bind(spec.voice.as_str())
    .bind(spec.format.as_str())
    .bind(spec.speed.get())
    .bind(spec.text.as_str())
    .bind(spec.text.sha256())
    .bind(spec.text.chars() as i32)
    .bind(spec.cache_key())
    .bind(payload)
    .bind(&new.headers)
    .bind(new.reply_to);
    if let Some(job) = timed("INSERT", TABLE, insert.fetch_optional(&mut *conn)).await? {
        return Ok((job, true));
    }
    let existing = sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        columns!(),
        " FROM jobs WHERE api_key_id = $1 AND idempotency_key = $2"
    ))
    .bind(new.api_key_id)
    .bind(new.idempotency_key);
    Ok((timed("SELECT", TABLE, existing.fetch_one(&mut *conn)).await?, false))
}

/// A job by id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Job>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, Job>(concat!("SELECT ", columns!(), " FROM jobs WHERE id = $1")).bind(id);
    timed("SELECT", TABLE, query.fetch_optional(&mut *conn)).await
}

/// A job's status alone (cheaper than the whole row).
pub async fn status(pool: &PgPool, id: Uuid) -> Result<Option<JobStatus>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, (String,)>("SELECT status FROM jobs WHERE id = $1").bind(id);
    let status = timed("SELECT", TABLE, query.fetch_optional(&mut *conn)).await?;
    Ok(status.and_then(|(s,)| s.parse().ok()))
}

/// How a job ended, with its audio when it succeeded: one query for a woken waiter.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Outcome {
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub status: StatusColumn,
    /// Last error, safe to show.
    pub error: Option<String>,
    /// Its code.
    pub error_code: Option<String>,
    /// Sample rate of the audio, when there is audio.
    pub sample_rate: Option<i32>,
    /// The audio bytes, when there is audio.
    pub bytes: Option<Vec<u8>>,
    /// Length of the audio, when there is audio.
    pub duration_ms: Option<i32>,
}

impl Outcome {
    /// The error, if any.
    pub fn failure(&self) -> Option<StoredFailure> {
        stored(self.error_code.as_deref(), self.error.as_deref())
    }
}

/// A job's outcome and audio in one round trip.
pub async fn outcome(pool: &PgPool, id: Uuid) -> Result<Option<Outcome>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, Outcome>(
        "SELECT j.status, j.error, j.error_code, a.sample_rate, a.bytes, a.duration_ms
         FROM jobs j LEFT JOIN audio a ON a.id = j.audio_id WHERE j.id = $1",
    )
    .bind(id);
    timed("SELECT", TABLE, query.fetch_optional(&mut *conn)).await
}

/// Jobs waiting to be run (outbox or queue), for admission's backlog check.
pub async fn count_queued(pool: &PgPool) -> Result<i64, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM jobs WHERE status = 'queued'");
    Ok(timed("SELECT", TABLE, query.fetch_one(&mut *conn)).await?.0)
}

/// A job by id, only if `api_key_id` owns it.
pub async fn get_owned(pool: &PgPool, id: Uuid, api_key_id: Uuid) -> Result<Option<Job>, sqlx::Error> {
    Ok(get(pool, id).await?.filter(|j| j.api_key_id == Some(api_key_id)))
}

/// The owner's jobs, newest first, strictly older than `before` when given.
pub async fn list_owned(
    pool: &PgPool,
    api_key_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Job>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, Job>(concat!(
        "SELECT ",
        columns!(),
        " FROM jobs WHERE api_key_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(api_key_id)
    .bind(before)
    .bind(limit);
    timed("SELECT", TABLE, query.fetch_all(&mut *conn)).await
}

/// Cancels a queued job of the owner's; `None` when it is not queued (or not theirs).
pub async fn cancel(pool: &PgPool, id: Uuid, api_key_id: Uuid) -> Result<Option<Job>, sqlx::Error> {
    let mut tx = begin(pool).await?;
    let query = sqlx::query_as::<_, Job>(concat!(
        "UPDATE jobs SET status = 'canceled', updated_at = now(), finished_at = now()
         WHERE id = $1 AND api_key_id = $2 AND status = 'queued'
         RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(api_key_id);
    let row = timed("UPDATE", TABLE, query.fetch_optional(&mut *tx)).await?;
    if row.is_some() {
        notify_done(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// Deletes the owner's job (its outbox row goes with it), then its audio unless another job
/// shares it; `None` when the job is not theirs. Sync waiters are woken and find it gone.
pub async fn delete(pool: &PgPool, id: Uuid, api_key_id: Uuid) -> Result<Option<Job>, sqlx::Error> {
    let mut tx = begin(pool).await?;
    let query = sqlx::query_as::<_, Job>(concat!(
        "DELETE FROM jobs WHERE id = $1 AND api_key_id = $2 RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(api_key_id);
    let Some(job) = timed("DELETE", TABLE, query.fetch_optional(&mut *tx)).await? else {
        return Ok(None);
    };
    notify_done(&mut tx, id).await?;
    tx.commit().await?;
    if let Some(audio_id) = job.audio_id {
        // Separate, so a job linking the same audio at this moment wins; retention removes
        // audio that ends up unreferenced.
        if let Err(e) = audio::delete_unreferenced(pool, audio_id).await {
            tracing::warn!(%audio_id, error = %e, "audio of a deleted job kept; retention will remove it");
        }
    }
    Ok(Some(job))
}

/// What a worker may do with a delivered job.
#[derive(Debug)]
pub enum Start {
    /// Synthesise it (attempts already counted).
    Run(Box<Job>),
    /// It has already ended (or never existed): acknowledge without work.
    Skip(Option<JobStatus>),
}

/// Claims a job for synthesis. A `running` job is claimed only from a `redelivered`
/// message: the broker redelivers what a dead worker held, while a second copy of a
/// message published twice must not start the same job beside the worker running it.
pub async fn start(pool: &PgPool, id: Uuid, redelivered: bool) -> Result<Start, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, Job>(concat!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = now(), updated_at = now()
         WHERE id = $1 AND (status = 'queued' OR (status = 'running' AND $2))
         RETURNING ",
        columns!(),
        ""
    ))
    .bind(id)
    .bind(redelivered);
    let row = timed("UPDATE", TABLE, query.fetch_optional(&mut *conn)).await?;
    drop(conn);
    match row {
        Some(job) => Ok(Start::Run(Box::new(job))),
        None => Ok(Start::Skip(get(pool, id).await?.map(|j| j.status()))),
    }
}

/// Stores the audio and marks the job succeeded in one transaction, announcing it on
/// commit. Returns false (and stores nothing) when the job already ended.
pub async fn succeed(pool: &PgPool, id: Uuid, new_audio: &audio::NewAudio) -> Result<bool, sqlx::Error> {
    let mut tx = begin(pool).await?;
    let audio_id = audio::insert(&mut tx, new_audio).await?;
    if !mark_succeeded(&mut tx, id, audio_id).await? {
        tx.rollback().await?;
        return Ok(false);
    }
    notify_done(&mut tx, id).await?;
    tx.commit().await?;
    Ok(true)
}

/// Ends a job nobody waits for any more without running it; false when it had already
/// ended (or was taken by another worker). A `redelivered` message may also end a running
/// job: its earlier delivery was never acknowledged (its worker died, or gave it back
/// after failing to store the audio), so no one is running it any more.
pub async fn expire(pool: &PgPool, id: Uuid, redelivered: bool) -> Result<bool, sqlx::Error> {
    let mut tx = begin(pool).await?;
    let query = sqlx::query(
        "UPDATE jobs SET status = 'expired', error = $2, error_code = $3, updated_at = now(), finished_at = now()
         WHERE id = $1 AND (status = 'queued' OR ($4 AND status = 'running'))",
    )
    .bind(id)
    .bind(JobFailure::Expired.message())
    .bind(JobFailure::Expired.code())
    .bind(redelivered);
    let expired = timed("UPDATE", TABLE, query.execute(&mut *tx)).await?.rows_affected() > 0;
    if expired {
        notify_done(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(expired)
}

/// Audio already made for `cache_key` by another job, if any.
pub async fn finished_audio(pool: &PgPool, cache_key: &str) -> Result<Option<Uuid>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, (Option<Uuid>,)>(
        "SELECT audio_id FROM jobs WHERE cache_key = $1 AND status = 'succeeded' AND audio_id IS NOT NULL LIMIT 1",
    )
    .bind(cache_key);
    Ok(timed("SELECT", TABLE, query.fetch_optional(&mut *conn))
        .await?
        .and_then(|(id,)| id))
}

/// Marks the job succeeded with audio that already exists, announcing it on commit.
pub async fn succeed_with(pool: &PgPool, id: Uuid, audio_id: Uuid) -> Result<bool, sqlx::Error> {
    let mut tx = begin(pool).await?;
    let updated = mark_succeeded(&mut tx, id, audio_id).await?;
    if updated {
        notify_done(&mut tx, id).await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(updated)
}

async fn mark_succeeded(conn: &mut sqlx::PgConnection, id: Uuid, audio_id: Uuid) -> Result<bool, sqlx::Error> {
    let query = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', audio_id = $2, error = NULL, error_code = NULL, updated_at = now(), finished_at = now()
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id)
    .bind(audio_id);
    Ok(timed("UPDATE", TABLE, query.execute(conn)).await?.rows_affected() > 0)
}

/// Records a failed attempt that will be retried.
pub async fn retry_later(pool: &PgPool, id: Uuid, failure: &JobFailure) -> Result<(), sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query(
        "UPDATE jobs SET status = 'queued', error = $2, error_code = $3, updated_at = now()
         WHERE id = $1 AND status = 'running'",
    )
    .bind(id)
    .bind(failure.message())
    .bind(failure.code());
    timed("UPDATE", TABLE, query.execute(&mut *conn)).await.map(drop)
}

/// Marks the job failed for good and announces it.
pub async fn fail(pool: &PgPool, id: Uuid, failure: &JobFailure) -> Result<(), sqlx::Error> {
    let mut tx = begin(pool).await?;
    let query = sqlx::query(
        "UPDATE jobs SET status = 'failed', error = $2, error_code = $3, updated_at = now(), finished_at = now()
         WHERE id = $1 AND status IN ('queued', 'running')",
    )
    .bind(id)
    .bind(failure.message())
    .bind(failure.code());
    timed("UPDATE", TABLE, query.execute(&mut *tx)).await?;
    notify_done(&mut tx, id).await?;
    tx.commit().await
}

async fn notify_done(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    let query = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOB_DONE_CHANNEL)
        .bind(id.to_string());
    timed("NOTIFY", TABLE, query.execute(conn)).await.map(drop)
}

/// Number of jobs in each status.
pub async fn count_by_status(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status");
    timed("SELECT", TABLE, query.fetch_all(&mut *conn)).await
}
