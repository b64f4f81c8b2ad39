//! The consume loop: manual acks, bounded prefetch, reconnects, and a graceful drain.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use lapin::{
    Connection,
    message::Delivery,
    options::{
        BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    },
    types::{AMQPValue, FieldTable},
};
use opentelemetry::trace::TraceContextExt;
use orator_core::{
    metrics::{CONSUMED, PROCESS_DURATION, QUEUE_TIME, SETTLED},
    queue::PUBLISHED_AT_HEADER,
};
use orator_telemetry::propagation;
use tokio::{sync::watch, task::JoinSet};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::process::{self, Context, Disposition};

/// Why consuming stopped.
enum Stop {
    Shutdown,
    Lost,
}

/// Consumes until `shutdown` turns true, reconnecting whenever the broker goes away.
pub async fn run(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        if *shutdown.borrow() {
            return;
        }
        match ctx.broker.connect().await {
            Ok(conn) => {
                backoff = Duration::from_millis(250);
                match consume(&ctx, &conn, &mut shutdown).await {
                    Ok(Stop::Shutdown) => {
                        let _ = conn.close(200, "shutdown".into()).await;
                        return;
                    }
                    Ok(Stop::Lost) => tracing::warn!("consumer lost the broker; reconnecting"),
                    Err(e) => tracing::warn!(error = %e, "consumer failed; reconnecting"),
                }
                let _ = tokio::time::timeout(Duration::from_millis(200), conn.close(200, "reconnect".into())).await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach RabbitMQ"),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn consume(ctx: &Arc<Context>, conn: &Connection, shutdown: &mut watch::Receiver<bool>) -> lapin::Result<Stop> {
    let channel = conn.create_channel().await?;
    channel
        .basic_qos(ctx.config.prefetch, BasicQosOptions::default())
        .await?;
    let queue = ctx.broker.topology().jobs.clone();
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let tag = consumer.tag();
    tracing::info!(queue = %queue, prefetch = ctx.config.prefetch, "consuming");
    let mut in_flight = JoinSet::new();
    let stop = loop {
        tokio::select! {
            _ = shutdown.changed() => break Stop::Shutdown,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let ctx = ctx.clone();
                    in_flight.spawn(async move { settle(&ctx, delivery).await });
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "delivery error");
                    break Stop::Lost;
                }
                None => break Stop::Lost,
            },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    };
    if matches!(stop, Stop::Shutdown) {
        // Stop taking work, then give in-flight jobs until the deadline. Whatever is still
        // unacknowledged when the channel closes goes back to the queue.
        let _ = channel.basic_cancel(tag, BasicCancelOptions::default()).await;
        let pending = in_flight.len();
        tracing::info!(
            in_flight = pending,
            grace_ms = ctx.config.shutdown_grace.as_millis() as u64,
            "draining"
        );
        let drained = tokio::time::timeout(ctx.config.shutdown_grace, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                abandoned = in_flight.len(),
                "drain deadline passed; unfinished jobs return to the queue"
            );
            in_flight.abort_all();
        }
        let _ = channel.close(200, "shutdown".into()).await;
    }
    Ok(stop)
}

/// Trace context and publish time from the message headers.
fn headers(delivery: &Delivery) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(table) = delivery.properties.headers() {
        for (k, v) in table {
            if let AMQPValue::LongString(s) = v {
                map.insert(k.to_string(), String::from_utf8_lossy(s.as_bytes()).into_owned());
            }
        }
    }
    map
}

async fn settle(ctx: &Context, delivery: Delivery) {
    let queue = ctx.broker.topology().jobs.clone();
    let headers = headers(&delivery);
    metrics::counter!(CONSUMED, "messaging_destination_name" => queue.clone()).increment(1);
    if let Some(published) = headers.get(PUBLISHED_AT_HEADER).and_then(|v| v.parse::<i64>().ok()) {
        let waited = (chrono::Utc::now().timestamp_millis() - published).max(0);
        metrics::histogram!(QUEUE_TIME).record(waited as f64 / 1000.0);
    }
    let span = tracing::info_span!(
        "process",
        otel.name = format!("process {queue}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "rabbitmq",
        messaging.operation.type = "process",
        messaging.destination.name = %queue,
        messaging.rabbitmq.redelivered = delivery.redelivered,
        job_id = Empty,
    );
    let producer = propagation::extract(&headers);
    if ctx.config.trace_queue_link {
        // A trace of its own, linked to the publish: long-lived queues make one trace per
        // hop easier to read than one very long trace.
        span.add_link(producer.span().span_context().clone());
    } else {
        let _ = span.set_parent(producer);
    }
    let start = Instant::now();
    let disposition = process::handle(ctx, &delivery.data, delivery.redelivered)
        .instrument(span.clone())
        .await;
    metrics::histogram!(PROCESS_DURATION, "messaging_destination_name" => queue).record(start.elapsed().as_secs_f64());
    let (label, result) = match disposition {
        Disposition::Ack => ("ack", delivery.ack(BasicAckOptions::default()).await),
        Disposition::Reject => ("reject", delivery.reject(BasicRejectOptions { requeue: false }).await),
        Disposition::Requeue => {
            // Give the failing dependency a moment instead of spinning on redeliveries.
            tokio::time::sleep(Duration::from_secs(1)).await;
            (
                "requeue",
                delivery
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await,
            )
        }
    };
    metrics::counter!(SETTLED, "disposition" => label).increment(1);
    if let Err(e) = result {
        // The channel is gone; the broker redelivers, and the worker is idempotent.
        span.in_scope(|| tracing::warn!(error = %e, disposition = label, "could not settle delivery"));
    }
}
