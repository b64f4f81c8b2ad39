//! Speech requests, end to end, in one place for the api and in-process tests:
//! sync speech is admission → cache → single-flight → job → wait → audio; async speech is
//! admission (backlog) → job. Every synthesis still runs in a worker.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    admission::{Admission, Rejection},
    cache::{CachedAudio, Redis},
    completion::{Completions, WaitError},
    db::jobs::{self, Job, NewJob},
    domain::{JobMode, JobStatus, SpeechSpec},
    failure::{JobFailure, StoredFailure},
    flight::SingleFlight,
    hot_cache::HotCache,
    queue::Relay,
};

/// Sync misses that joined an identical job in flight instead of creating one.
pub const JOINED: &str = "orator_single_flight_joined_total";

/// Where sync audio came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cache.
    Hit,
    /// A job this request created.
    Miss,
    /// A job an identical request in flight had created.
    Joined,
}

impl Source {
    /// Header and log value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Joined => "joined",
        }
    }
}

/// Audio for a sync request.
#[derive(Debug, Clone)]
pub struct Spoken {
    /// The audio (shared by every request that joined the same job).
    pub audio: Arc<CachedAudio>,
    /// Where it came from.
    pub source: Source,
}

/// Why a speech request produced no audio.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SpeechError {
    /// Refused by admission control.
    #[error(transparent)]
    Overloaded(#[from] Rejection),
    /// No worker finished before the caller's deadline.
    #[error(
        "speech was not ready within {0:?}; retry later (the audio is cached if synthesis finishes) or use POST /v1/jobs"
    )]
    Timeout(Duration),
    /// The job ended without audio.
    #[error("{}", .0.message)]
    Failed(StoredFailure),
    /// The idempotency key was used before for a different request.
    #[error("Idempotency-Key was already used for a different request (job {0}); use a new key")]
    KeyReused(Uuid),
    /// PostgreSQL failed.
    #[error("storage: {0}")]
    Db(Arc<sqlx::Error>),
}

impl From<sqlx::Error> for SpeechError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(Arc::new(e))
    }
}

type Flight = Result<Arc<CachedAudio>, SpeechError>;

/// The speech service; clones share everything.
#[derive(Clone)]
pub struct Speech {
    pool: PgPool,
    redis: Redis,
    relay: Relay,
    completions: Completions,
    admission: Admission,
    flights: Arc<SingleFlight<Flight>>,
    hot: HotCache,
    sync_timeout: Duration,
}

impl Speech {
    /// The service over its dependencies; sync callers wait at most `sync_timeout`.
    pub fn new(
        pool: PgPool,
        redis: Redis,
        relay: Relay,
        completions: Completions,
        admission: Admission,
        hot: HotCache,
        sync_timeout: Duration,
    ) -> Self {
        metrics::describe_counter!(JOINED, "Sync cache misses that joined an identical job in flight.");
        metrics::counter!(JOINED).increment(0);
        Self {
            pool,
            redis,
            relay,
            completions,
            admission,
            flights: Arc::default(),
            hot,
            sync_timeout,
        }
    }

    /// Audio for `spec` now: from the in-process or the Redis cache, or from a job this or
    /// an identical request in flight created, waited for until the deadline.
    pub async fn speak(&self, spec: &SpeechSpec, owner: Uuid) -> Result<Spoken, SpeechError> {
        let key = spec.cache_key();
        if let Some(audio) = self.hot.get(&key) {
            crate::cache::count_hit(audio.bytes.len());
            return Ok(Spoken {
                audio,
                source: Source::Hit,
            });
        }
        match self.redis.get_audio(&key).await {
            Ok(Some(audio)) => {
                let audio = Arc::new(audio);
                self.hot.put(&key, audio.clone());
                return Ok(Spoken {
                    audio,
                    source: Source::Hit,
                });
            }
            Ok(None) => {}
            // A saturated pool means we are overloaded: synthesising would make it worse.
            Err(e) if e.is_overload() => return Err(Rejection::cache_busy().into()),
            Err(e) => tracing::debug!(error = %e, "cache unavailable; synthesising"),
        }
        let leader = self.clone();
        let spec = spec.clone();
        let headers = trace_headers();
        let (audio, joined) = self
            .flights
            .run(&key, move || async move { leader.lead(&spec, owner, headers).await })
            .await;
        if joined {
            metrics::counter!(JOINED).increment(1);
        }
        let audio = audio?;
        if !joined {
            self.hot.put(&key, audio.clone());
        }
        Ok(Spoken {
            audio,
            source: if joined { Source::Joined } else { Source::Miss },
        })
    }

    /// The one request of a flight that creates the job and waits for it.
    async fn lead(&self, spec: &SpeechSpec, owner: Uuid, headers: serde_json::Value) -> Flight {
        let _slot = self.admission.wait_slot()?;
        self.admission.check_backlog()?;
        let id = Uuid::now_v7();
        // Registered before the job exists: its end cannot be missed.
        let mut waiter = self.completions.register(id);
        let deadline = Utc::now() + self.sync_timeout;
        // One bound over every step, the database included: a stalled PostgreSQL must not
        // hold the caller past its deadline.
        tokio::time::timeout(self.sync_timeout, async {
            let new = NewJob {
                id,
                spec,
                mode: JobMode::Sync,
                api_key_id: Some(owner),
                idempotency_key: None,
                deadline: Some(deadline),
                headers,
            };
            jobs::create(&self.pool, new).await?;
            self.relay.nudge();
            waiter
                .wait(self.sync_timeout)
                .await
                .map_err(|WaitError::Deadline| SpeechError::Timeout(self.sync_timeout))?;
            drop(waiter);
            self.finished(id).await
        })
        .await
        .unwrap_or(Err(SpeechError::Timeout(self.sync_timeout)))
    }

    /// The audio of a job that has ended, or why there is none.
    async fn finished(&self, id: Uuid) -> Flight {
        // A read, so safe to repeat: the first try may land on a pooled connection that died
        // while we waited (the pool only finds out by using it).
        let outcome = match jobs::outcome(&self.pool, id).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::debug!(job_id = %id, error = %e, "reading the outcome failed; trying once more");
                jobs::outcome(&self.pool, id).await?
            }
        };
        // Deleted by its owner while we waited: nothing to give back.
        let outcome = outcome.ok_or_else(|| SpeechError::Failed((&JobFailure::Expired).into()))?;
        let failure = outcome.failure();
        match (outcome.status.0, outcome.sample_rate, outcome.bytes) {
            (JobStatus::Succeeded, Some(rate), Some(bytes)) => Ok(Arc::new(CachedAudio {
                sample_rate: rate as u32,
                bytes: bytes.into(),
            })),
            (status, ..) => Err(SpeechError::Failed(failure.unwrap_or_else(|| StoredFailure {
                code: status.as_str().to_owned(),
                message: format!("the job ended {}", status.as_str()),
            }))),
        }
    }

    /// Queues an async job (or returns the one made earlier with the same idempotency key),
    /// unless the backlog is beyond what the workers finish in time.
    pub async fn submit(
        &self,
        spec: &SpeechSpec,
        owner: Uuid,
        idempotency_key: Option<&str>,
    ) -> Result<(Job, bool), SpeechError> {
        self.admission.check_backlog()?;
        let new = NewJob {
            id: Uuid::now_v7(),
            spec,
            mode: JobMode::Async,
            api_key_id: Some(owner),
            idempotency_key,
            deadline: None,
            headers: trace_headers(),
        };
        let (job, created) = jobs::create(&self.pool, new).await?;
        if created {
            self.relay.nudge();
        } else if !job.is_for(spec) {
            return Err(SpeechError::KeyReused(job.id));
        }
        Ok((job, created))
    }
}

impl Speech {
    /// Deletes the owner's job with its audio and cached copies; `None` when not theirs.
    pub async fn delete(&self, id: Uuid, owner: Uuid) -> Result<Option<Job>, SpeechError> {
        let Some(job) = jobs::delete(&self.pool, id, owner).await? else {
            return Ok(None);
        };
        self.hot.remove(&job.cache_key);
        if let Err(e) = self.redis.delete_audio(&job.cache_key).await {
            // The entry expires with its TTL; the job and its stored audio are gone already.
            tracing::warn!(job_id = %id, error = %e, "cached audio of a deleted job not removed");
        }
        Ok(Some(job))
    }
}

/// The current request's trace context, stored with the job so the publish continues it.
fn trace_headers() -> serde_json::Value {
    serde_json::to_value(orator_telemetry::propagation::inject(&tracing::Span::current())).unwrap_or_default()
}
