//! The outbox relay: publishes committed outbox rows to RabbitMQ and marks them sent.
//! Rows wait in PostgreSQL while the broker is away, so accepted jobs are never lost.

use std::collections::HashMap;
use std::{sync::Arc, time::Duration};

use lapin::BasicProperties;
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use super::{Broker, Outgoing, QueueError};
use crate::db::outbox;

/// Rows published per pass.
const BATCH: i64 = 200;
/// How long claimed rows are skipped by other relays: longer than a publish may take (the
/// broker's timeout bounds it), short enough that a dead relay's rows are soon retried.
const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// Publishes the outbox; wake it with [`Relay::nudge`] after a commit for low latency.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    broker: Arc<Broker>,
    wake: Arc<Notify>,
    interval: Duration,
}

/// Why a relay pass stopped.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl Relay {
    /// A relay that also polls every `interval` (to retry after broker outages).
    pub fn new(pool: PgPool, broker: Arc<Broker>, interval: Duration) -> Self {
        Self {
            pool,
            broker,
            wake: Arc::new(Notify::new()),
            interval,
        }
    }

    /// Asks the relay to run now.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = self.interval;
        loop {
            match self.drain().await {
                Ok(published) => {
                    if published > 0 {
                        tracing::debug!(published, "outbox relayed");
                    }
                    backoff = self.interval;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay failed; rows stay pending");
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Publishes every pending row; returns how many.
    async fn drain(&self) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            let rows = outbox::claim_pending(&self.pool, BATCH, CLAIM_LEASE).await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let topology = self.broker.topology();
            let messages: Vec<_> = rows.iter().map(message).collect();
            if let Err(e) = self
                .broker
                .publish_confirmed(&topology.exchange, &topology.jobs, messages)
                .await
            {
                // Unconfirmed: some may have arrived, all go again (the worker is idempotent).
                if let Err(release) = outbox::release(&self.pool, &ids).await {
                    tracing::warn!(error = %release, "cannot release outbox rows; their claim lapses instead");
                }
                return Err(e.into());
            }
            // A crash here publishes these rows again once the claim lapses: the worker is
            // idempotent.
            outbox::mark_published(&self.pool, &ids).await?;
            total += rows.len();
        }
    }
}

/// The AMQP message for an outbox row: persistent, with the job id; its publish span
/// continues the trace of the request that created the job (stored in the row's headers).
fn message(row: &outbox::OutboxRow) -> Outgoing {
    let stored: HashMap<String, String> = serde_json::from_value(row.headers.clone()).unwrap_or_default();
    let parent = (!stored.is_empty()).then(|| orator_telemetry::propagation::extract(&stored));
    let props = BasicProperties::default()
        .with_message_id(row.job_id.to_string().as_str().into())
        .with_timestamp(chrono::Utc::now().timestamp() as u64);
    Outgoing {
        body: serde_json::to_vec(&row.payload).expect("JSON value serialises"),
        props,
        parent,
    }
}
