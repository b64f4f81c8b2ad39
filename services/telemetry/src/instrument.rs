//! Timing and tracing for client calls (database, cache, message broker), so call sites
//! wrap a future instead of repeating spans and metrics.

use std::{fmt::Display, future::Future, time::Instant};

use tracing::{Instrument, field::Empty};

/// `db.client.operation.duration`.
pub const DB_DURATION: &str = "db_client_operation_duration_seconds";
/// Cache call latency.
pub const CACHE_DURATION: &str = "cache_operation_duration_seconds";
/// `messaging.client.operation.duration`.
pub const MESSAGING_DURATION: &str = "messaging_client_operation_duration_seconds";

fn fail(span: &tracing::Span, error: &dyn Display) {
    span.record("otel.status_code", "ERROR");
    span.record("error.type", "error");
    span.in_scope(|| tracing::warn!(exception.message = %error, "operation failed"));
}

/// Describes this module's metrics.
pub fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        DB_DURATION,
        Unit::Seconds,
        "Database operations by operation and table; error_type is set on failures."
    );
    metrics::describe_histogram!(
        CACHE_DURATION,
        Unit::Seconds,
        "Cache operations by operation, errors included."
    );
    metrics::describe_histogram!(
        MESSAGING_DURATION,
        Unit::Seconds,
        "Message broker operations (publish until handed to the broker) by destination."
    );
}

/// Runs a database operation in a CLIENT span (`db.system.name`, `db.operation.name`,
/// `db.collection.name`; never parameter values) and records its duration and errors.
pub async fn db<T, E: Display>(
    system: &'static str,
    operation: &'static str,
    collection: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let span = tracing::info_span!(
        "db",
        otel.name = format!("{operation} {collection}"),
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = system,
        db.operation.name = operation,
        db.collection.name = collection,
        error.type = Empty,
    );
    let start = Instant::now();
    let result = work.instrument(span.clone()).await;
    // As the conventions do, failures are the same histogram with `error_type` set.
    let error_type = if result.is_err() { "error" } else { "" };
    let labels = [
        ("db_operation_name", operation),
        ("db_collection_name", collection),
        ("error_type", error_type),
    ];
    metrics::histogram!(DB_DURATION, &labels).record(start.elapsed().as_secs_f64());
    if let Err(e) = &result {
        fail(&span, e);
    }
    result
}

/// Runs a cache operation in a CLIENT span and records its latency. The caller counts
/// hits and misses, which only it can tell apart.
pub async fn cache<T, E: Display>(
    system: &'static str,
    operation: &'static str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let span = tracing::info_span!(
        "cache",
        otel.name = format!("{system} {operation}"),
        otel.kind = "client",
        otel.status_code = Empty,
        db.system.name = system,
        db.operation.name = operation,
        error.type = Empty,
    );
    let start = Instant::now();
    let result = work.instrument(span.clone()).await;
    metrics::histogram!(CACHE_DURATION, "operation" => operation).record(start.elapsed().as_secs_f64());
    if let Err(e) = &result {
        fail(&span, e);
    }
    result
}

/// A PRODUCER span for publishing to `destination`; pass it to [`publish`] and inject its
/// context into the message headers first.
pub fn producer_span(system: &'static str, destination: &str) -> tracing::Span {
    tracing::info_span!(
        "publish",
        otel.name = format!("publish {destination}"),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = system,
        messaging.operation.type = "send",
        messaging.destination.name = %destination,
        messaging.batch.message_count = Empty,
        error.type = Empty,
    )
}

/// Runs a publish inside `span` and records its duration.
pub async fn publish<T, E: Display>(
    span: tracing::Span,
    destination: &str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let start = Instant::now();
    let result = work.instrument(span.clone()).await;
    metrics::histogram!(
        MESSAGING_DURATION,
        "messaging_operation_name" => "publish",
        "messaging_destination_name" => destination.to_owned(),
    )
    .record(start.elapsed().as_secs_f64());
    if let Err(e) = &result {
        fail(&span, e);
    }
    result
}
