//! Gauges refreshed by polling: the database pool, jobs by status, the outbox backlog and
//! queue depths.

use std::{sync::Arc, time::Duration};

use lapin::{options::QueueDeclareOptions, types::FieldTable};
use sqlx::PgPool;

use crate::{
    db::{self, jobs, outbox},
    domain::JobStatus,
    metrics::{JOBS, OUTBOX_AGE, OUTBOX_PENDING, QUEUE_CONSUMERS, QUEUE_MESSAGES},
    queue::Broker,
};

/// Depth and consumers of one queue, by a passive declare.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueStats {
    /// Queue name.
    pub queue: String,
    /// Ready messages.
    pub messages: u32,
    /// Attached consumers.
    pub consumers: u32,
}

/// Reads every Orator queue's depth and consumers.
pub async fn queue_stats(broker: &Broker) -> Result<Vec<QueueStats>, crate::queue::QueueError> {
    let channel = broker.channel().await?;
    let t = broker.topology();
    let mut stats = Vec::new();
    for queue in [&t.jobs, &t.retry, &t.dead] {
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let q = channel
            .queue_declare(queue.as_str().into(), passive, FieldTable::default())
            .await?;
        stats.push(QueueStats {
            queue: queue.clone(),
            messages: q.message_count(),
            consumers: q.consumer_count(),
        });
    }
    Ok(stats)
}

/// Refreshes the api's gauges (pool, jobs by status, outbox) every `every`.
pub async fn api(pool: PgPool, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        db::record_pool_stats(&pool);
        if let Ok(counts) = jobs::count_by_status(&pool).await {
            for status in JobStatus::ALL {
                let n = counts.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
                metrics::gauge!(JOBS, "status" => status.as_str()).set(n as f64);
            }
        }
        if let Ok((pending, age)) = outbox::backlog(&pool).await {
            metrics::gauge!(OUTBOX_PENDING).set(pending as f64);
            metrics::gauge!(OUTBOX_AGE).set(age);
        }
    }
}

/// Refreshes the worker's gauges (pool, queue depths and consumers) every `every`.
pub async fn worker(pool: PgPool, broker: Arc<Broker>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        db::record_pool_stats(&pool);
        if let Ok(stats) = queue_stats(&broker).await {
            for s in stats {
                metrics::gauge!(QUEUE_MESSAGES, "queue" => s.queue.clone()).set(f64::from(s.messages));
                metrics::gauge!(QUEUE_CONSUMERS, "queue" => s.queue).set(f64::from(s.consumers));
            }
        }
    }
}
