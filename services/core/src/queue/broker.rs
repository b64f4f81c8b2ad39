//! A lazily (re)connecting RabbitMQ handle with publisher confirms.

use std::time::Duration;

use lapin::{
    BasicProperties, Channel, Connection, ConnectionProperties,
    options::{BasicPublishOptions, ConfirmSelectOptions},
    types::AMQPValue,
};
use tokio::sync::Mutex;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::Topology;

/// A broker operation that failed; the message is not known to be stored.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Connection, channel or protocol error.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The broker refused the message.
    #[error("broker did not confirm the message")]
    Nacked,
    /// The broker did not answer in time (connect, channel, declare, publish or confirm).
    #[error("amqp {0} timed out")]
    Timeout(&'static str),
}

/// One connection and one confirm-mode channel, opened on first use and reopened after a
/// failure. Every call is bounded by the timeout given at creation, so a stalled broker
/// costs a caller that long at most. Cloning is not offered: share it in an `Arc`.
pub struct Broker {
    url: String,
    name: String,
    topology: Topology,
    timeout: Duration,
    state: Mutex<Option<(Connection, Channel)>>,
}

/// `f`, or [`QueueError::Timeout`] naming `what` after `limit`.
async fn bounded<T>(
    limit: Duration,
    what: &'static str,
    f: impl Future<Output = Result<T, QueueError>>,
) -> Result<T, QueueError> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or(Err(QueueError::Timeout(what)))
}

impl Broker {
    /// A handle for `url` whose calls each take at most `timeout`; nothing connects until
    /// first use.
    pub fn new(url: impl Into<String>, name: impl Into<String>, topology: Topology, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            name: name.into(),
            topology,
            timeout,
            state: Mutex::new(None),
        }
    }

    /// The topology this handle declares.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Opens a new connection (declaring the topology); used by consumers, which want
    /// their own.
    pub async fn connect(&self) -> Result<Connection, QueueError> {
        bounded(self.timeout, "connect", async {
            let props = ConnectionProperties::default().with_connection_name(self.name.as_str().into());
            let conn = Connection::connect(&self.url, props).await?;
            let channel = conn.create_channel().await?;
            self.topology.declare(&channel).await?;
            let _ = channel.close(200, "topology declared".into()).await;
            Ok(conn)
        })
        .await
    }

    /// The publishing channel, connecting if needed. The lock is not held while connecting:
    /// callers racing a reconnect each try, and the last one's connection is kept.
    pub async fn channel(&self) -> Result<Channel, QueueError> {
        if let Some((conn, channel)) = self.state.lock().await.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let conn = self.connect().await?;
        let channel = bounded(self.timeout, "channel", async {
            let channel = conn.create_channel().await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            Ok(channel)
        })
        .await?;
        if let Some((old, _)) = self.state.lock().await.replace((conn, channel.clone())) {
            tokio::spawn(async move { old.close(200, "replaced".into()).await });
        }
        tracing::info!(broker = %self.name, "amqp publisher connected");
        Ok(channel)
    }

    /// Drops the connection so the next call reconnects.
    pub async fn reset(&self) {
        if let Some((conn, _)) = self.state.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.close(200, "reset".into())).await;
        }
    }

    /// Publishes persistent messages and waits until the broker confirms every one. Each
    /// message gets a PRODUCER span (child of `parent`, when given) whose context rides in
    /// its headers, plus the publish time for time-in-queue.
    pub async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: Vec<Outgoing>,
    ) -> Result<(), QueueError> {
        let destination = if exchange.is_empty() { routing_key } else { exchange };
        let result = bounded(self.timeout, "publish", async {
            let channel = self.channel().await?;
            let mut confirms = Vec::with_capacity(messages.len());
            for message in messages {
                let span = orator_telemetry::instrument::producer_span("rabbitmq", destination);
                if let Some(parent) = message.parent {
                    let _ = span.set_parent(parent);
                }
                let mut headers = message.props.headers().clone().unwrap_or_default();
                let mut context = orator_telemetry::propagation::inject(&span);
                context.insert(
                    PUBLISHED_AT_HEADER.into(),
                    chrono::Utc::now().timestamp_millis().to_string(),
                );
                for (k, v) in context {
                    headers.insert(k.as_str().into(), AMQPValue::LongString(v.as_str().into()));
                }
                let props = message
                    .props
                    .with_headers(headers)
                    .with_delivery_mode(2)
                    .with_content_type("application/json".into());
                let publish = channel.basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &message.body,
                    props,
                );
                match orator_telemetry::instrument::publish(span.clone(), destination, publish).await {
                    Ok(confirm) => confirms.push((confirm, span)),
                    Err(e) => {
                        count(destination, "failed");
                        return Err(e.into());
                    }
                }
            }
            let mut outcome = Ok(());
            for (confirm, span) in confirms {
                let result = match confirm.await {
                    Ok(lapin::Confirmation::Ack(Some(_))) => "returned",
                    Ok(lapin::Confirmation::Ack(None) | lapin::Confirmation::NotRequested) => "confirmed",
                    Ok(lapin::Confirmation::Nack(_)) | Err(_) => "failed",
                };
                count(destination, result);
                if result != "confirmed" {
                    span.record("otel.status_code", "ERROR");
                    span.record("error.type", result);
                    outcome = Err(QueueError::Nacked);
                }
            }
            outcome
        })
        .await;
        if result.is_err() {
            self.reset().await;
        }
        result
    }
}

impl Broker {
    /// Publishes a reply to an api process's reply queue without waiting for the broker's
    /// confirmation: replies are a fast path that may be lost (the stored audio is the
    /// record), and a per-chunk round trip would delay every chunk.
    pub async fn reply(&self, queue: &str, job: uuid::Uuid, reply: &super::Reply) -> Result<(), QueueError> {
        let (props, body) = reply.encode(job);
        let result = bounded(self.timeout, "publish", async {
            let channel = self.channel().await?;
            let _unconfirmed = channel
                .basic_publish("".into(), queue.into(), BasicPublishOptions::default(), &body, props)
                .await?;
            Ok(())
        })
        .await;
        if result.is_err() {
            self.reset().await;
        }
        result
    }
}

/// Header carrying the publish time in Unix milliseconds (AMQP's own timestamp has seconds).
pub const PUBLISHED_AT_HEADER: &str = "x-published-at-ms";
/// Messages published, by destination and result (confirmed, returned, failed).
pub const MESSAGES_PUBLISHED: &str = "messaging_client_sent_messages_total";

fn count(destination: &str, result: &'static str) {
    metrics::counter!(MESSAGES_PUBLISHED, "messaging_destination_name" => destination.to_owned(), "result" => result)
        .increment(1);
}

/// A message to publish.
pub struct Outgoing {
    /// Body.
    pub body: Vec<u8>,
    /// Properties; headers are extended with trace context.
    pub props: BasicProperties,
    /// Trace context the publish span continues (e.g. the HTTP request that made the job).
    pub parent: Option<opentelemetry::Context>,
}
