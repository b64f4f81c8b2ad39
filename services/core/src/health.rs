//! Health checks for Orator's dependencies.

use std::{sync::Arc, time::Duration};

use orator_telemetry::health::HealthCheck;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{cache::Redis, queue::Broker};

/// `SELECT 1` on the pool; details are the pool's size and use.
pub struct Postgres(pub PgPool);

#[async_trait::async_trait]
impl HealthCheck for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    async fn check(&self) -> Result<Option<Value>, String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map_err(|e| e.to_string())?;
        let pool = &self.0;
        Ok(Some(json!({
            "pool_size": pool.size(),
            "pool_idle": pool.num_idle(),
            "pool_max": pool.options().get_max_connections(),
        })))
    }
}

/// `PING`.
pub struct RedisPing(pub Redis);

#[async_trait::async_trait]
impl HealthCheck for RedisPing {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> Result<Option<Value>, String> {
        self.0.ping().await.map(|()| None).map_err(|e| e.to_string())
    }
}

/// The broker answers; details are each queue's depth and consumers.
pub struct RabbitMq(pub Arc<Broker>);

#[async_trait::async_trait]
impl HealthCheck for RabbitMq {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<Option<Value>, String> {
        // Passive declares are round trips: they prove the connection is alive now.
        match tokio::time::timeout(Duration::from_secs(2), crate::gauges::queue_stats(&self.0)).await {
            Ok(Ok(stats)) => Ok(Some(json!({ "queues": stats }))),
            Ok(Err(e)) => {
                self.0.reset().await;
                Err(e.to_string())
            }
            Err(_) => {
                self.0.reset().await;
                Err("queue probe timed out".into())
            }
        }
    }
}
