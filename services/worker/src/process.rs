//! What happens to one delivered job.

use std::{sync::Arc, time::Instant};

use lapin::BasicProperties;
use orator_core::{
    cache::{CachedAudio, Redis},
    db::{audio::NewAudio, jobs},
    queue::{Broker, JobMessage},
};
use orator_engine::{AudioFormat, SynthesisRequest, Synthesizer};
use sqlx::PgPool;

use crate::config::WorkerConfig;

/// What to tell the broker about a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done with it (succeeded, skipped, retried or dead-lettered by us).
    Ack,
    /// Unreadable: reject without requeue, so the queue dead-letters it.
    Reject,
    /// A dependency failed: give it back to the queue.
    Requeue,
}

/// Why a synthesis attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The engine failed.
    #[error("engine: {0}")]
    Engine(#[from] orator_engine::EngineError),
    /// Encoding failed.
    #[error("encode: {0}")]
    Encode(#[from] orator_engine::EncodeError),
    /// The stored format is not one we know.
    #[error("unknown format: {0}")]
    Format(#[from] orator_engine::UnknownFormat),
    /// Synthesis ran past its timeout.
    #[error("synthesis timed out")]
    Timeout,
    /// The blocking encoder task panicked.
    #[error("encoder task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Everything a job needs, shared by all in-flight jobs.
pub struct Context {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Cache to fill with fresh audio.
    pub redis: Redis,
    /// For retry and dead-letter publishes.
    pub broker: Arc<Broker>,
    /// The engine.
    pub engine: Arc<dyn Synthesizer>,
    /// Settings.
    pub config: WorkerConfig,
}

/// Handles one message body; never panics on bad input.
pub async fn handle(ctx: &Context, body: &[u8]) -> Disposition {
    let Ok(JobMessage { job_id }) = serde_json::from_slice(body) else {
        tracing::error!(bytes = body.len(), "unreadable job message; dead-lettering");
        return Disposition::Reject;
    };
    let job = match jobs::start(&ctx.pool, job_id).await {
        Ok(jobs::Start::Run(job)) => job,
        Ok(jobs::Start::Skip(status)) => {
            // A redelivery of a job that already ended: nothing to do, and never twice.
            tracing::info!(%job_id, status = ?status, "job already ended; acknowledged without work");
            metrics::counter!("orator_jobs_processed_total", "outcome" => "skipped").increment(1);
            return Disposition::Ack;
        }
        Err(e) => {
            tracing::error!(%job_id, error = %e, "cannot claim job; requeueing");
            return Disposition::Requeue;
        }
    };
    let started = Instant::now();
    match attempt(ctx, &job).await {
        Ok(audio) => store(ctx, &job, audio, started).await,
        Err(e) => give_up_or_retry(ctx, &job, &e.to_string()).await,
    }
}

async fn attempt(ctx: &Context, job: &jobs::Job) -> Result<NewAudio, AttemptError> {
    let format: AudioFormat = job.format.parse()?;
    let request = SynthesisRequest {
        text: job.input.clone(),
        voice: job.voice.clone(),
        speed: job.speed,
    };
    let started = Instant::now();
    let pcm = tokio::time::timeout(ctx.config.synthesis_timeout, ctx.engine.synthesize(&request))
        .await
        .map_err(|_| AttemptError::Timeout)??;
    metrics::histogram!("orator_synthesis_duration_seconds", "engine" => ctx.engine.name())
        .record(started.elapsed().as_secs_f64());
    let duration_ms = (pcm.duration_seconds() * 1000.0).round() as u32;
    let (bytes, sample_rate) = tokio::task::spawn_blocking(move || {
        orator_engine::encode(&pcm, format).map(|b| (b, orator_engine::output_sample_rate(pcm.sample_rate, format)))
    })
    .await??;
    Ok(NewAudio {
        format: format.as_str().to_owned(),
        content_type: format.content_type().to_owned(),
        sample_rate,
        duration_ms,
        bytes,
    })
}

async fn store(ctx: &Context, job: &jobs::Job, audio: NewAudio, started: Instant) -> Disposition {
    match jobs::succeed(&ctx.pool, job.id, &audio).await {
        Ok(stored) => {
            if stored {
                let cached = CachedAudio {
                    sample_rate: audio.sample_rate,
                    bytes: audio.bytes,
                };
                if let Err(e) = ctx.redis.put_audio(&job.cache_key, &cached, ctx.config.cache_ttl).await {
                    tracing::warn!(job_id = %job.id, error = %e, "cache write failed");
                }
                metrics::counter!("orator_jobs_processed_total", "outcome" => "succeeded").increment(1);
            }
            tracing::info!(
                job_id = %job.id,
                attempt = job.attempts,
                stored,
                duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                "job succeeded"
            );
            Disposition::Ack
        }
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "cannot store audio; requeueing");
            Disposition::Requeue
        }
    }
}

async fn give_up_or_retry(ctx: &Context, job: &jobs::Job, error: &str) -> Disposition {
    let topology = ctx.broker.topology();
    let body = serde_json::to_vec(&JobMessage { job_id: job.id }).expect("serialisable");
    let attempts = job.attempts.max(1) as u32;
    if attempts >= ctx.config.max_attempts {
        tracing::error!(job_id = %job.id, attempts, error, "job failed for good; dead-lettering");
        // Dead-letter first: if that publish fails the message is requeued and nothing is lost.
        let props = BasicProperties::default().with_message_id(job.id.to_string().as_str().into());
        if let Err(e) = ctx.broker.publish_confirmed("", &topology.dead, [(body, props)]).await {
            tracing::error!(job_id = %job.id, error = %e, "dead-letter publish failed; requeueing");
            return Disposition::Requeue;
        }
        if let Err(e) = jobs::fail(&ctx.pool, job.id, error).await {
            tracing::error!(job_id = %job.id, error = %e, "cannot mark job failed");
        }
        metrics::counter!("orator_jobs_processed_total", "outcome" => "failed").increment(1);
        return Disposition::Ack;
    }
    let delay = ctx.config.retry_base * 2u32.saturating_pow(attempts - 1);
    tracing::warn!(job_id = %job.id, attempts, delay_ms = delay.as_millis() as u64, error, "attempt failed; retrying later");
    if let Err(e) = jobs::retry_later(&ctx.pool, job.id, error).await {
        tracing::error!(job_id = %job.id, error = %e, "cannot record the failed attempt; requeueing");
        return Disposition::Requeue;
    }
    let props = BasicProperties::default()
        .with_message_id(job.id.to_string().as_str().into())
        .with_expiration(delay.as_millis().to_string().as_str().into());
    match ctx.broker.publish_confirmed("", &topology.retry, [(body, props)]).await {
        Ok(()) => {
            metrics::counter!("orator_jobs_processed_total", "outcome" => "retried").increment(1);
            Disposition::Ack
        }
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "retry publish failed; requeueing");
            Disposition::Requeue
        }
    }
}
