//! Speech requests, end to end, in one place for the api and in-process tests:
//! sync speech is admission → cache → single-flight → job → stream → audio; async speech is
//! admission (backlog) → job. Every synthesis still runs in a worker.
//!
//! A sync miss streams: the worker sends the audio chunk by chunk to this process's reply
//! queue ([`Replies`]) and the request passes each on as it comes. Identical requests in
//! flight share one job and one [`Tee`], each from its first chunk.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use chrono::Utc;
use sqlx::PgPool;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    admission::{Admission, Rejection},
    cache::{CachedAudio, Redis},
    completion::{Completions, WaitError},
    db::jobs::{self, Job, NewJob},
    domain::{JobMode, JobStatus, SpeechSpec},
    failure::{JobFailure, StoredFailure},
    hot_cache::HotCache,
    metrics::TIME_TO_FIRST_AUDIO,
    queue::{Relay, Replies, Reply, ReplyReceiver},
    stream::{Listener, Tee},
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
pub struct Spoken {
    /// The audio, whole or on its way.
    pub audio: Audio,
    /// Sample rate of the encoded audio.
    pub sample_rate: u32,
    /// Where it came from.
    pub source: Source,
}

/// Audio that is all here (a cache hit) or still being synthesised.
pub enum Audio {
    /// All of it.
    Whole(Arc<CachedAudio>),
    /// Chunks as the worker sends them; the first has arrived.
    Stream(Listener),
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
    /// The stream broke off after audio had gone out (a retried attempt made other bytes).
    #[error("the audio stream broke off; retry the request")]
    Broken,
}

impl From<sqlx::Error> for SpeechError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(Arc::new(e))
    }
}

/// Jobs in flight by cache key; a tee lives as long as its job's pump.
type Flights = Arc<Mutex<HashMap<String, Weak<Tee>>>>;

/// The speech service; clones share everything.
#[derive(Clone)]
pub struct Speech {
    pool: PgPool,
    redis: Redis,
    relay: Relay,
    completions: Completions,
    replies: Replies,
    admission: Admission,
    flights: Flights,
    hot: HotCache,
    sync_timeout: Duration,
}

impl Speech {
    /// The service over its dependencies; sync callers wait at most `sync_timeout`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pool: PgPool,
        redis: Redis,
        relay: Relay,
        completions: Completions,
        replies: Replies,
        admission: Admission,
        hot: HotCache,
        sync_timeout: Duration,
    ) -> Self {
        metrics::describe_counter!(JOINED, "Sync cache misses that joined an identical job in flight.");
        metrics::counter!(JOINED).increment(0);
        crate::stream::register();
        Self {
            pool,
            redis,
            relay,
            completions,
            replies,
            admission,
            flights: Arc::default(),
            hot,
            sync_timeout,
        }
    }

    /// Audio for `spec` now: from the in-process or the Redis cache, or streamed from a job
    /// this or an identical request in flight created, until the deadline.
    pub async fn speak(&self, spec: &SpeechSpec, owner: Uuid) -> Result<Spoken, SpeechError> {
        let started = Instant::now();
        let key = spec.cache_key();
        let whole = |audio: Arc<CachedAudio>| Spoken {
            sample_rate: audio.sample_rate,
            audio: Audio::Whole(audio),
            source: Source::Hit,
        };
        if let Some(audio) = self.hot.get(&key) {
            crate::cache::count_hit(audio.bytes.len());
            return Ok(whole(audio));
        }
        match self.redis.get_audio(&key).await {
            Ok(Some(audio)) => {
                let audio = Arc::new(audio);
                self.hot.put(&key, audio.clone());
                return Ok(whole(audio));
            }
            Ok(None) => {}
            // A saturated pool means we are overloaded: synthesising would make it worse.
            Err(e) if e.is_overload() => return Err(Rejection::cache_busy().into()),
            Err(e) => tracing::debug!(error = %e, "cache unavailable; synthesising"),
        }
        let (tee, joined) = self.flight(&key, spec, owner);
        if joined {
            metrics::counter!(JOINED).increment(1);
        }
        let mut listener = tee.listen(spec.format.as_str());
        let sample_rate = listener.start().await?;
        metrics::histogram!(TIME_TO_FIRST_AUDIO, "engine" => spec.engine.clone(), "format" => spec.format.as_str())
            .record(started.elapsed().as_secs_f64());
        Ok(Spoken {
            audio: Audio::Stream(listener),
            sample_rate,
            source: if joined { Source::Joined } else { Source::Miss },
        })
    }

    /// The tee of the job in flight for `key`, or a new job's (whose pump starts now).
    fn flight(&self, key: &str, spec: &SpeechSpec, owner: Uuid) -> (Arc<Tee>, bool) {
        let mut flights = self.flights.lock().expect("flights poisoned");
        if let Some(tee) = flights.get(key).and_then(Weak::upgrade) {
            return (tee, true);
        }
        let tee = Arc::new(Tee::default());
        flights.insert(key.to_owned(), Arc::downgrade(&tee));
        let me = self.clone();
        let spec = spec.clone();
        let headers = trace_headers();
        let pumped = tee.clone();
        let key = key.to_owned();
        // Its own task: the job goes on when its first caller leaves, for those who joined
        // and to fill the cache, and ends by the deadline at the latest.
        tokio::spawn(
            async move {
                let result = me.lead(&spec, owner, headers, &pumped).await;
                pumped.end(result);
                if let Some(audio) = pumped.audio() {
                    me.hot.put(&key, Arc::new(audio));
                }
                let mut flights = me.flights.lock().expect("flights poisoned");
                if flights
                    .get(&key)
                    .is_some_and(|weak| weak.ptr_eq(&Arc::downgrade(&pumped)))
                {
                    flights.remove(&key);
                }
            }
            .in_current_span(),
        );
        (tee, false)
    }

    /// Creates the job and pumps its audio into `tee`; the audio's length when complete.
    async fn lead(
        &self,
        spec: &SpeechSpec,
        owner: Uuid,
        headers: serde_json::Value,
        tee: &Tee,
    ) -> Result<u32, SpeechError> {
        let _slot = self.admission.wait_slot()?;
        self.admission.check_backlog()?;
        let id = Uuid::now_v7();
        // Registered before the job exists: neither its chunks nor its end can be missed.
        let mut waiter = self.completions.register(id);
        let mut replies = self.replies.register(id);
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
                reply_to: Some(self.replies.address()),
            };
            jobs::create(&self.pool, new).await?;
            self.relay.nudge();
            let mut stream = Progress::default();
            tokio::select! {
                complete = stream.follow(&mut replies, tee) => return Ok(complete),
                ended = waiter.wait(self.sync_timeout) => {
                    ended.map_err(|WaitError::Deadline| SpeechError::Timeout(self.sync_timeout))?;
                }
            }
            drop(waiter);
            // The job ended (its end marker normally follows the commit within milliseconds).
            if let Ok(complete) = tokio::time::timeout(END_GRACE, stream.follow(&mut replies, tee)).await {
                return Ok(complete);
            }
            // A chunk went missing or the stream never started: the rest comes from the record.
            let audio = self.finished(id).await?;
            let received = tee.received();
            if stream.broken || !audio.bytes.starts_with(&received) {
                return Err(SpeechError::Broken);
            }
            if audio.bytes.len() > received.len() {
                tee.push(audio.sample_rate, audio.bytes.slice(received.len()..));
            }
            Ok(audio.duration_ms)
        })
        .await
        .unwrap_or(Err(SpeechError::Timeout(self.sync_timeout)))
    }

    /// The audio of a job that has ended, or why there is none.
    async fn finished(&self, id: Uuid) -> Result<CachedAudio, SpeechError> {
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
            (JobStatus::Succeeded, Some(rate), Some(bytes)) => Ok(CachedAudio {
                sample_rate: rate as u32,
                duration_ms: outcome.duration_ms.unwrap_or(0) as u32,
                bytes: bytes.into(),
            }),
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
            reply_to: None,
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

/// How long a job's end marker may trail the commit that woke the waiter.
const END_GRACE: Duration = Duration::from_millis(250);

/// Where one attempt's stream stands.
#[derive(Default)]
struct Progress {
    attempt: Option<i32>,
    next: u32,
    broken: bool,
}

impl Progress {
    /// Passes replies into `tee` until the attempt's end marker; the audio's length then.
    /// Pending forever once the stream broke (a gap, or a second attempt after the first
    /// sent audio): the job's end decides.
    async fn follow(&mut self, replies: &mut ReplyReceiver, tee: &Tee) -> u32 {
        loop {
            let Some(reply) = replies.recv().await else {
                return std::future::pending().await;
            };
            if self.broken {
                continue;
            }
            match reply {
                Reply::Chunk {
                    attempt,
                    seq,
                    sample_rate,
                    bytes,
                } => {
                    // A new attempt may start over only while nothing was passed on.
                    if seq == 0 && self.next == 0 {
                        self.attempt = Some(attempt);
                    }
                    if self.attempt != Some(attempt) || seq != self.next {
                        self.broken = true;
                        continue;
                    }
                    self.next += 1;
                    tee.push(sample_rate, bytes);
                }
                Reply::End {
                    attempt,
                    chunks,
                    duration_ms,
                } => {
                    if self.attempt == Some(attempt) && chunks == self.next {
                        return duration_ms;
                    }
                    // An attempt that sent nothing (all audio in its end) or a gap.
                    if self.next != 0 || chunks != 0 {
                        self.broken = true;
                    }
                }
            }
        }
    }
}

/// The current request's trace context, stored with the job so the publish continues it.
fn trace_headers() -> serde_json::Value {
    serde_json::to_value(orator_telemetry::propagation::inject(&tracing::Span::current())).unwrap_or_default()
}
