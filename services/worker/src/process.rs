//! What happens to one delivered job.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use lapin::BasicProperties;
use orator_core::{
    cache::{CachedAudio, Redis},
    db::{
        audio::{Cue, NewAudio},
        jobs,
    },
    domain::JobMode,
    failure::JobFailure,
    metrics::{AUDIO_SECONDS, CHARACTERS, DEAD_LETTERED, JOB_DURATION, JOBS_PROCESSED},
    queue::{Broker, JobMessage, Outgoing, Reply},
};
use orator_engine::{AudioFormat, Encoder, Piece, SynthesisRequest, observed, observed::ENCODE_DURATION};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::Instrument;

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

impl AttemptError {
    /// What the caller is told; the error itself goes to the logs.
    fn failure(&self, max_audio: std::time::Duration) -> JobFailure {
        use orator_engine::EngineError as E;
        match self {
            Self::Engine(E::TooLong(_)) => JobFailure::AudioTooLong(max_audio),
            Self::Engine(E::EmptyOutput) => JobFailure::NoSpeech,
            Self::Format(_) => JobFailure::Unprocessable,
            Self::Timeout => JobFailure::TimedOut,
            Self::Engine(_) | Self::Encode(_) | Self::Join(_) => JobFailure::EngineFailed,
        }
    }
}

/// Everything a job needs, shared by all in-flight jobs.
pub struct Context {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Cache to fill with fresh audio.
    pub redis: Redis,
    /// For retry and dead-letter publishes.
    pub broker: Arc<Broker>,
    /// The engines, by the name a job carries.
    pub engines: orator_engine::Engines,
    /// Settings.
    pub config: WorkerConfig,
    /// Encodes at once: each holds the whole PCM and its encoded copy (opus resamples on top),
    /// so their number bounds the worker's memory as the engine's permits bound its CPU.
    pub encoders: tokio::sync::Semaphore,
}

/// Handles one message body; never panics on bad input. `redelivered` is the broker's flag:
/// set when an earlier delivery of this message was never acknowledged (its worker died).
pub async fn handle(ctx: &Context, body: &[u8], redelivered: bool) -> Disposition {
    let Ok(message) = serde_json::from_slice::<JobMessage>(body) else {
        tracing::error!(bytes = body.len(), "unreadable job message; dead-lettering");
        metrics::counter!(DEAD_LETTERED, "reason" => "unreadable").increment(1);
        return Disposition::Reject;
    };
    let job_id = message.job_id;
    tracing::Span::current().record("job_id", tracing::field::display(job_id));
    if message.expired_at(chrono::Utc::now().timestamp_millis()) {
        // Its caller has given up: the engine's time goes to requests that can still be answered.
        return match jobs::expire(&ctx.pool, job_id, redelivered).await {
            Ok(expired) => {
                tracing::info!(%job_id, expired, "sync job past its deadline; not synthesised");
                metrics::counter!(JOBS_PROCESSED, "outcome" => if expired { "expired" } else { "skipped" })
                    .increment(1);
                Disposition::Ack
            }
            Err(e) => {
                tracing::error!(%job_id, error = %e, "cannot expire job; requeueing");
                Disposition::Requeue
            }
        };
    }
    let job = match jobs::start(&ctx.pool, job_id, redelivered).await {
        Ok(jobs::Start::Run(job)) => job,
        Ok(jobs::Start::Skip(status)) => {
            // A job that already ended, or a duplicate of one another worker is running
            // (published twice): nothing to do, and never twice.
            tracing::info!(%job_id, status = ?status, "job already ended or running elsewhere; acknowledged without work");
            metrics::counter!(JOBS_PROCESSED, "outcome" => "skipped").increment(1);
            return Disposition::Ack;
        }
        Err(e) => {
            tracing::error!(%job_id, error = %e, "cannot claim job; requeueing");
            return Disposition::Requeue;
        }
    };
    if job.attempts > ctx.config.max_attempts as i32 {
        // Claimed more often than allowed: the earlier attempts ended with their worker
        // (killed, out of memory) before they could record a failure. Never run it again.
        tracing::error!(job_id = %job.id, attempts = job.attempts, "claimed past the attempt cap; earlier attempts ended with their worker");
        return give_up(ctx, &job, &JobFailure::AttemptsExhausted, message.deadline_ms).await;
    }
    let started = Instant::now();
    match jobs::finished_audio(&ctx.pool, &job.cache_key).await {
        // Another job already made this audio (identical request from another api process,
        // or one whose cache entry expired): link it instead of synthesising again.
        Ok(Some(audio_id)) => return reuse(ctx, &job, audio_id).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(job_id = %job.id, error = %e, "cannot look for finished audio; synthesising"),
    }
    match attempt(ctx, &job).await {
        Ok(audio) => store(ctx, &job, audio, started).await,
        Err(e) => {
            let span = tracing::Span::current();
            span.record("otel.status_code", "ERROR");
            let failure = e.failure(ctx.config.max_audio);
            tracing::warn!(job_id = %job.id, attempt = job.attempts, error = %e, code = failure.code(), "synthesis attempt failed");
            if failure.is_permanent() {
                // The input is the cause: another attempt would fail the same way.
                give_up(ctx, &job, &failure, message.deadline_ms).await
            } else {
                give_up_or_retry(ctx, &job, &failure, message.deadline_ms).await
            }
        }
    }
}

/// What an attempt made: the audio to store, and the chunks it streamed on the way (`None`
/// when nothing was streamed, or streaming broke off).
struct Made {
    audio: NewAudio,
    chunks: Option<u32>,
}

async fn attempt(ctx: &Context, job: &jobs::Job) -> Result<Made, AttemptError> {
    let format: AudioFormat = job.format.parse()?;
    let request = SynthesisRequest {
        text: job.input.clone(),
        voice: job.voice.clone(),
        speed: job.speed,
        max_duration: Some(ctx.config.max_audio),
    };
    // A job for an engine this worker lacks (configured on the api only) is retried, so that
    // a worker that has it can take it.
    let engine = ctx.engines.get(&job.engine).ok_or_else(|| {
        orator_engine::EngineError::Unavailable(format!("this worker does not serve the {} engine", job.engine))
    })?;
    // Sentences are encoded (and streamed) while the engine works on the next ones; the
    // small channel keeps it at most two sentences ahead.
    let (pieces, received) = mpsc::channel(2);
    let synthesis = tokio::time::timeout(
        ctx.config.synthesis_timeout,
        observed::synthesize(engine.as_ref(), &request, pieces),
    );
    let (synthesised, encoded) = tokio::join!(synthesis, encode(ctx, job, format, received));
    let seconds = synthesised.map_err(|_| AttemptError::Timeout)??;
    let encoded = encoded?;
    let engine = engine.name();
    metrics::counter!(CHARACTERS, "engine" => engine).increment(request.text.chars().count() as u64);
    metrics::histogram!(AUDIO_SECONDS, "engine" => engine, "format" => format.as_str()).record(seconds);
    Ok(Made {
        audio: NewAudio {
            format: format.as_str().to_owned(),
            content_type: format.content_type().to_owned(),
            sample_rate: encoded.sample_rate,
            duration_ms: (seconds * 1000.0).round() as u32,
            bytes: encoded.bytes,
            captions: encoded.cues,
        },
        chunks: encoded.chunks,
    })
}

/// A job's audio as it is encoded, and where it is streamed to.
struct Encoded<'a> {
    bytes: Vec<u8>,
    cues: Vec<Cue>,
    sample_rate: u32,
    /// Chunks streamed so far; `None` once streaming stopped (or never started).
    chunks: Option<u32>,
    reply_to: Option<&'a str>,
}

impl Encoded<'_> {
    /// Keeps `bytes` and streams them to the waiting request, if any. A failed publish
    /// ends the streaming (the request then reads the stored audio), not the job.
    async fn send(&mut self, ctx: &Context, job: &jobs::Job, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if let (Some(queue), Some(sent)) = (self.reply_to, self.chunks) {
            let chunk = Reply::Chunk {
                attempt: job.attempts,
                seq: sent,
                sample_rate: self.sample_rate,
                bytes: bytes.clone().into(),
            };
            match ctx.broker.reply(queue, job.id, &chunk).await {
                Ok(()) => self.chunks = Some(sent + 1),
                Err(e) => {
                    // No end marker either: the request sees the gap and reads the record.
                    tracing::warn!(job_id = %job.id, error = %e, "streaming the audio failed; it is stored as usual");
                    self.chunks = None;
                }
            }
        }
        self.bytes.extend_from_slice(&bytes);
    }
}

/// Encodes the pieces as they come, streaming each one's bytes; a failure drops `pieces`,
/// which stops the engine.
async fn encode<'a>(
    ctx: &Context,
    job: &'a jobs::Job,
    format: AudioFormat,
    mut pieces: mpsc::Receiver<Piece>,
) -> Result<Encoded<'a>, AttemptError> {
    let mut out = Encoded {
        bytes: Vec::new(),
        cues: Vec::new(),
        sample_rate: 0,
        chunks: reply_to(job).map(|_| 0),
        reply_to: reply_to(job),
    };
    let span = tracing::info_span!(
        "encode",
        otel.name = format!("encode {format}"),
        orator.format = %format,
        otel.status_code = tracing::field::Empty,
    );
    let mut encoder: Option<Box<dyn Encoder>> = None;
    let mut samples = 0usize;
    let mut busy = Duration::ZERO;
    while let Some(piece) = pieces.recv().await {
        let rate = piece.pcm.sample_rate;
        let current = match encoder.take() {
            Some(current) => current,
            None => {
                out.sample_rate = orator_engine::output_sample_rate(rate, format);
                orator_engine::encoder(format, rate)?
            }
        };
        let ms = |n: usize| (n as f64 * 1000.0 / f64::from(rate)).round() as u32;
        out.cues.push(Cue {
            start_ms: ms(samples),
            end_ms: ms(samples + piece.speech),
            text_start: piece.text.start,
            text_end: piece.text.end,
        });
        samples += piece.pcm.samples.len();
        let (current, bytes, took) = run_encoder(ctx, &span, current, move |e| e.push(&piece.pcm.samples)).await?;
        busy += took;
        encoder = Some(current);
        out.send(ctx, job, bytes?).await;
    }
    if let Some(current) = encoder {
        let (_, bytes, took) = run_encoder(ctx, &span, current, |e| e.finish()).await?;
        busy += took;
        out.send(ctx, job, bytes?).await;
    }
    metrics::histogram!(ENCODE_DURATION, "format" => format.as_str()).record(busy.as_secs_f64());
    Ok(out)
}

type Step = Result<Vec<u8>, orator_engine::EncodeError>;

/// One encoder step on a blocking thread, under an encoder permit and the encode span.
async fn run_encoder(
    ctx: &Context,
    span: &tracing::Span,
    mut encoder: Box<dyn Encoder>,
    step: impl FnOnce(&mut dyn Encoder) -> Step + Send + 'static,
) -> Result<(Box<dyn Encoder>, Step, Duration), AttemptError> {
    let _permit = ctx.encoders.acquire().await.expect("never closed");
    let span = span.clone();
    Ok(tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let started = Instant::now();
        let bytes = step(encoder.as_mut());
        if let Err(e) = &bytes {
            span.record("otel.status_code", "ERROR");
            tracing::warn!(exception.message = %e, "encoding failed");
        }
        (encoder, bytes, started.elapsed())
    })
    .await?)
}

async fn store(ctx: &Context, job: &jobs::Job, made: Made, started: Instant) -> Disposition {
    let Made { audio, chunks } = made;
    // Cache first: a sync caller is woken by the commit below and its next identical
    // request must hit. Content-addressed audio is valid even if the commit then fails.
    let cached = CachedAudio {
        sample_rate: audio.sample_rate,
        duration_ms: audio.duration_ms,
        bytes: audio.bytes.clone().into(),
    };
    if let Err(e) = ctx
        .redis
        .put_audio(&job.cache_key, &cached, ctx.config.common.cache_ttl)
        .await
    {
        tracing::warn!(job_id = %job.id, error = %e, "cache write failed");
    }
    let span = tracing::info_span!(
        "store",
        otel.name = "store audio",
        orator.audio_bytes = audio.bytes.len()
    );
    match jobs::succeed(&ctx.pool, job.id, &audio).instrument(span).await {
        Ok(stored) => {
            if stored {
                end_stream(ctx, job, chunks, audio.duration_ms).await;
                metrics::counter!(JOBS_PROCESSED, "outcome" => "succeeded").increment(1);
                let age = (chrono::Utc::now() - job.created_at).num_milliseconds().max(0) as f64 / 1000.0;
                metrics::histogram!(JOB_DURATION, "mode" => job.mode.0.as_str()).record(age);
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

/// Where a job's audio streams to: only a sync job has a request waiting for it.
fn reply_to(job: &jobs::Job) -> Option<&str> {
    job.reply_to.as_deref().filter(|_| job.mode.0 == JobMode::Sync)
}

/// Tells the waiting request that the stream is complete and the audio stored (so that an
/// identical request made now is a cache hit).
async fn end_stream(ctx: &Context, job: &jobs::Job, chunks: Option<u32>, duration_ms: u32) {
    let (Some(queue), Some(chunks)) = (reply_to(job), chunks) else {
        return;
    };
    let end = Reply::End {
        attempt: job.attempts,
        chunks,
        duration_ms,
    };
    if let Err(e) = ctx.broker.reply(queue, job.id, &end).await {
        // The commit woke the request too: it reads the stored audio instead.
        tracing::debug!(job_id = %job.id, error = %e, "end of stream not sent");
    }
}

async fn reuse(ctx: &Context, job: &jobs::Job, audio_id: uuid::Uuid) -> Disposition {
    match jobs::succeed_with(&ctx.pool, job.id, audio_id).await {
        Ok(stored) => {
            if stored {
                metrics::counter!(JOBS_PROCESSED, "outcome" => "reused").increment(1);
            }
            tracing::info!(job_id = %job.id, %audio_id, stored, "job answered with existing audio");
            Disposition::Ack
        }
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "cannot link existing audio; requeueing");
            Disposition::Requeue
        }
    }
}

/// A retried sync job keeps its caller's deadline.
async fn give_up_or_retry(
    ctx: &Context,
    job: &jobs::Job,
    failure: &JobFailure,
    deadline_ms: Option<i64>,
) -> Disposition {
    let attempts = job.attempts.max(1) as u32;
    if attempts >= ctx.config.max_attempts {
        return give_up(ctx, job, failure, deadline_ms).await;
    }
    let topology = ctx.broker.topology();
    let body = message_body(job, deadline_ms);
    let delay = ctx.config.retry_base * 2u32.saturating_pow(attempts - 1);
    tracing::warn!(job_id = %job.id, attempts, delay_ms = delay.as_millis() as u64, code = failure.code(), "retrying later");
    if let Err(e) = jobs::retry_later(&ctx.pool, job.id, failure).await {
        tracing::error!(job_id = %job.id, error = %e, "cannot record the failed attempt; requeueing");
        return Disposition::Requeue;
    }
    let props = BasicProperties::default()
        .with_message_id(job.id.to_string().as_str().into())
        .with_expiration(delay.as_millis().to_string().as_str().into());
    match ctx
        .broker
        .publish_confirmed(
            "",
            &topology.retry,
            vec![Outgoing {
                body,
                props,
                parent: None,
            }],
        )
        .await
    {
        Ok(()) => {
            metrics::counter!(JOBS_PROCESSED, "outcome" => "retried").increment(1);
            Disposition::Ack
        }
        Err(e) => {
            tracing::error!(job_id = %job.id, error = %e, "retry publish failed; requeueing");
            Disposition::Requeue
        }
    }
}

fn message_body(job: &jobs::Job, deadline_ms: Option<i64>) -> Vec<u8> {
    let message = JobMessage {
        job_id: job.id,
        deadline_ms,
    };
    serde_json::to_vec(&message).expect("serialisable")
}

/// Ends the job as failed: dead-letter first, so if that publish fails the message is
/// requeued and nothing is lost; then the status. A status that cannot be written is left
/// to the sweeper, which finds the job by its lease.
async fn give_up(ctx: &Context, job: &jobs::Job, failure: &JobFailure, deadline_ms: Option<i64>) -> Disposition {
    tracing::error!(job_id = %job.id, attempts = job.attempts, code = failure.code(), "job failed for good; dead-lettering");
    let props = BasicProperties::default().with_message_id(job.id.to_string().as_str().into());
    let dead = vec![Outgoing {
        body: message_body(job, deadline_ms),
        props,
        parent: None,
    }];
    if let Err(e) = ctx
        .broker
        .publish_confirmed("", &ctx.broker.topology().dead, dead)
        .await
    {
        tracing::error!(job_id = %job.id, error = %e, "dead-letter publish failed; requeueing");
        return Disposition::Requeue;
    }
    if let Err(e) = jobs::fail(&ctx.pool, job.id, failure).await {
        tracing::error!(job_id = %job.id, error = %e, "cannot mark job failed; the sweeper will");
    }
    metrics::counter!(JOBS_PROCESSED, "outcome" => "failed").increment(1);
    let reason = if failure.is_permanent() {
        "permanent"
    } else {
        "exhausted"
    };
    metrics::counter!(DEAD_LETTERED, "reason" => reason).increment(1);
    Disposition::Ack
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use orator_core::{breaker::BreakerConfig, queue::Topology};
    use orator_engine::{EngineError, Pcm, Pieces, Synthesizer, VoiceInfo};

    use super::*;

    /// An engine with a fixed script: for each sentence, `speech` samples of a tone and
    /// `pause` of silence at 8 kHz; or a failure; or no end at all.
    enum Script {
        Speak { speech: usize, pause: usize },
        Fail(fn() -> EngineError),
        Hang,
    }

    #[async_trait::async_trait]
    impl Synthesizer for Script {
        fn name(&self) -> &'static str {
            "script"
        }
        fn voices(&self) -> &[VoiceInfo] {
            &[]
        }
        async fn synthesize_stream(&self, req: &SynthesisRequest, out: Pieces) -> Result<(), EngineError> {
            let (speech, pause) = match self {
                Self::Speak { speech, pause } => (*speech, *pause),
                Self::Fail(error) => return Err(error()),
                Self::Hang => std::future::pending().await,
            };
            for sentence in orator_engine::sentences::split(&req.text) {
                let mut samples: Vec<i16> = (0..speech).map(|i| ((i % 50) as i16 - 25) * 800).collect();
                samples.resize(speech + pause, 0);
                let piece = Piece {
                    pcm: Pcm {
                        samples,
                        sample_rate: 8_000,
                    },
                    text: sentence.range,
                    speech,
                };
                out.send(piece).await.map_err(|_| EngineError::Closed)?;
            }
            Ok(())
        }
    }

    /// A context whose servers are never reached: a job without a waiting request touches
    /// neither the broker nor the stores during its attempt.
    fn context(engine: Script, synthesis_timeout: Duration) -> Context {
        let nowhere = "127.0.0.1:1";
        let mut config = WorkerConfig::from_env().expect("defaults");
        config.synthesis_timeout = synthesis_timeout;
        Context {
            pool: sqlx::postgres::PgPoolOptions::new()
                .connect_lazy(&format!("postgres://nobody@{nowhere}/none"))
                .unwrap(),
            redis: Redis::new(
                &format!("redis://{nowhere}"),
                "test:",
                Duration::from_millis(100),
                1,
                orator_core::breaker::Breaker::new(
                    BreakerConfig {
                        failures: 1,
                        open_for: Duration::from_secs(1),
                    },
                    "test_breaker_open",
                ),
            )
            .unwrap(),
            broker: Arc::new(Broker::new(
                format!("amqp://{nowhere}"),
                "test",
                Topology::new("test."),
                Duration::from_millis(100),
            )),
            engines: orator_engine::Engines::new([Arc::new(engine) as Arc<dyn Synthesizer>]),
            config,
            encoders: tokio::sync::Semaphore::new(1),
        }
    }

    fn job(input: &str, format: &str) -> jobs::Job {
        let now = chrono::Utc::now();
        jobs::Job {
            id: uuid::Uuid::now_v7(),
            api_key_id: None,
            mode: jobs::ModeColumn(JobMode::Async),
            status: jobs::StatusColumn(orator_core::domain::JobStatus::Running),
            model: "script".into(),
            engine: "script".into(),
            voice: "any".into(),
            format: format.into(),
            speed: 1.0,
            input: input.into(),
            text_sha256: String::new(),
            text_length: input.chars().count() as i32,
            cache_key: String::new(),
            attempts: 1,
            error: None,
            error_code: None,
            audio_id: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            reply_to: None,
        }
    }

    #[tokio::test]
    async fn an_attempt_encodes_every_sentence_and_times_each_for_captions() {
        let ctx = context(
            Script::Speak {
                speech: 4_000,
                pause: 2_000,
            },
            Duration::from_secs(5),
        );
        let input = "First one. Second one!  Third?";
        let made = attempt(&ctx, &job(input, "wav")).await.expect("audio");
        assert_eq!(made.chunks, None, "nothing streamed without a waiting request");
        let audio = made.audio;
        assert_eq!(
            (audio.format.as_str(), audio.sample_rate, audio.duration_ms),
            ("wav", 8_000, 2_250)
        );
        assert_eq!(audio.bytes.len(), 44 + 3 * 6_000 * 2, "header, then every sample");
        assert_eq!(&audio.bytes[..4], b"RIFF");
        let cues: Vec<(u32, u32, &str)> = audio
            .captions
            .iter()
            .map(|c| (c.start_ms, c.end_ms, &input[c.text_start..c.text_end]))
            .collect();
        assert_eq!(
            cues,
            [
                (0, 500, "First one."),
                (750, 1_250, "Second one!"),
                (1_500, 2_000, "Third?")
            ]
        );
    }

    #[tokio::test]
    async fn engine_failures_and_timeouts_become_the_codes_callers_see() {
        let max = Duration::from_secs(300);
        let cases: [(Script, &str, bool); 3] = [
            (
                Script::Fail(|| EngineError::TooLong(Duration::from_secs(300))),
                "audio_too_long",
                true,
            ),
            (Script::Fail(|| EngineError::EmptyOutput), "no_speech", true),
            (
                Script::Fail(|| EngineError::Unavailable("down".into())),
                "engine_failed",
                false,
            ),
        ];
        for (script, code, permanent) in cases {
            let ctx = context(script, Duration::from_secs(5));
            let error = attempt(&ctx, &job("Hello.", "mp3")).await.err().expect("a failure");
            let failure = error.failure(max);
            assert_eq!((failure.code(), failure.is_permanent()), (code, permanent), "{error}");
        }
        let ctx = context(Script::Hang, Duration::from_millis(50));
        let error = attempt(&ctx, &job("Hello.", "mp3")).await.err().expect("a timeout");
        assert_eq!(error.failure(max).code(), "synthesis_timeout");
        let unknown = attempt(&ctx, &job("Hello.", "midi")).await.err().expect("a bad format");
        assert_eq!(unknown.failure(max).code(), "unprocessable");
    }
}
