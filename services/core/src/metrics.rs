//! Names and descriptions of Orator's own metrics (the generic HTTP, database, cache and
//! messaging ones live in `orator-telemetry`). `monitoring/metrics.yaml` is the catalogue;
//! a test holds it equal to what the binaries expose.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Speech requests by voice, format, mode (sync/async) and outcome.
pub const SPEECH_REQUESTS: &str = "orator_speech_requests_total";
/// Characters synthesised.
pub const CHARACTERS: &str = "orator_characters_synthesized_total";
/// Length of each clip produced; its `_sum` is the audio seconds produced.
pub const AUDIO_SECONDS: &str = "orator_audio_duration_seconds";
/// Buckets for clip lengths.
pub const AUDIO_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// Jobs by status, refreshed from the database.
pub const JOBS: &str = "orator_jobs";
/// Requests refused by the rate limiter.
pub const RATE_LIMITED: &str = "orator_rate_limited_requests_total";
/// Requests without a valid key, by reason.
pub const AUTH_FAILURES: &str = "orator_auth_failures_total";
/// Jobs a worker finished handling, by outcome.
pub const JOBS_PROCESSED: &str = "orator_jobs_processed_total";
/// Job creation to success.
pub const JOB_DURATION: &str = "orator_job_duration_seconds";
/// Messages received by the worker.
pub const CONSUMED: &str = "messaging_client_consumed_messages_total";
/// How the worker settled deliveries.
pub const SETTLED: &str = "orator_messages_settled_total";
/// Messages sent to the dead-letter queue, by reason.
pub const DEAD_LETTERED: &str = "orator_messages_dead_lettered_total";
/// Delivery handling time (`messaging.process.duration`).
pub const PROCESS_DURATION: &str = "messaging_process_duration_seconds";
/// Publish to consume.
pub const QUEUE_TIME: &str = "orator_message_queue_time_seconds";
/// Ready messages per queue (polled).
pub const QUEUE_MESSAGES: &str = "orator_queue_messages";
/// Consumers per queue (polled).
pub const QUEUE_CONSUMERS: &str = "orator_queue_consumers";
/// Outbox rows not yet published.
pub const OUTBOX_PENDING: &str = "orator_outbox_pending_messages";
/// Age of the oldest unpublished outbox row.
pub const OUTBOX_AGE: &str = "orator_outbox_oldest_age_seconds";
/// Request to first audio chunk of a synthesised sync answer, by engine and format.
pub const TIME_TO_FIRST_AUDIO: &str = "orator_speech_time_to_first_audio_seconds";
/// Audio chunks sent to clients, by format.
pub const STREAM_CHUNKS: &str = "orator_stream_chunks_total";
/// Audio bytes streamed to clients, by format.
pub const STREAM_BYTES: &str = "orator_stream_bytes_total";
/// Streams under way.
pub const STREAMS_ACTIVE: &str = "orator_streams_active";
/// Streams whose client went away before the end.
pub const STREAMS_CANCELLED: &str = "orator_streams_cancelled_total";

/// Describes every Orator metric (HELP and unit); harmless for ones a binary never emits.
pub fn describe() {
    describe_counter!(SPEECH_REQUESTS, "Speech requests by voice, format, mode and outcome.");
    describe_counter!(CHARACTERS, "Characters of text synthesised.");
    describe_histogram!(
        AUDIO_SECONDS,
        Unit::Seconds,
        "Length of each clip produced; _sum is the audio seconds produced."
    );
    describe_gauge!(JOBS, "Jobs by status, refreshed from the database.");
    describe_counter!(RATE_LIMITED, "Requests refused with 429 by the per-key rate limit.");
    describe_counter!(AUTH_FAILURES, "Requests refused with 401, by reason.");
    describe_counter!(JOBS_PROCESSED, "Jobs handled by workers, by outcome.");
    describe_histogram!(JOB_DURATION, Unit::Seconds, "Time from job creation to success.");
    describe_counter!(CONSUMED, "Messages delivered to the worker.");
    describe_counter!(SETTLED, "Deliveries settled by the worker: ack, reject or requeue.");
    describe_counter!(DEAD_LETTERED, "Messages sent to the dead-letter queue, by reason.");
    describe_histogram!(PROCESS_DURATION, Unit::Seconds, "Time to handle one delivery.");
    describe_histogram!(QUEUE_TIME, Unit::Seconds, "Time from publish to delivery to a worker.");
    describe_gauge!(QUEUE_MESSAGES, "Messages ready in each queue.");
    describe_gauge!(QUEUE_CONSUMERS, "Consumers attached to each queue.");
    describe_gauge!(OUTBOX_PENDING, "Outbox rows waiting to be published.");
    describe_gauge!(OUTBOX_AGE, Unit::Seconds, "Age of the oldest unpublished outbox row.");
    describe_histogram!(
        TIME_TO_FIRST_AUDIO,
        Unit::Seconds,
        "Time from a synthesised sync request to its first audio chunk, by engine and format."
    );
    describe_counter!(STREAM_CHUNKS, "Audio chunks streamed to clients, by format.");
    describe_counter!(STREAM_BYTES, Unit::Bytes, "Audio bytes streamed to clients, by format.");
    describe_gauge!(STREAMS_ACTIVE, "Audio streams under way, by format.");
    describe_counter!(
        STREAMS_CANCELLED,
        "Audio streams whose client went away before the end, by format."
    );
    describe_counter!(
        crate::cache::CACHE_OPERATIONS,
        "Cache operations by operation and result (hit, miss, ok, error)."
    );
    describe_gauge!(
        crate::cache::BREAKER_OPEN,
        "1 while the Redis circuit breaker is open (Redis taken as down; cache bypassed)."
    );
    describe_counter!(
        crate::cache::CACHE_BYTES,
        Unit::Bytes,
        "Bytes read from (hits) and written to the cache."
    );
    describe_counter!(
        crate::queue::MESSAGES_PUBLISHED,
        "Messages published, by destination and broker answer."
    );
    describe_histogram!(
        crate::db::CONNECTION_WAIT,
        Unit::Seconds,
        "Time to get a pooled database connection."
    );
    describe_gauge!(
        crate::db::CONNECTION_COUNT,
        "Pooled database connections by state (idle, used)."
    );
    describe_gauge!(crate::db::CONNECTION_MAX, "Largest size the database pool may grow to.");
}
