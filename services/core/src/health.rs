//! Health checks for Orator's dependencies.

use std::{sync::Arc, time::Duration};

use orator_telemetry::health::HealthCheck;
use sqlx::PgPool;

use crate::{cache::Redis, queue::Broker};

/// `SELECT 1` on the pool.
pub struct Postgres(pub PgPool);

#[async_trait::async_trait]
impl HealthCheck for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// `PING`.
pub struct RedisPing(pub Redis);

#[async_trait::async_trait]
impl HealthCheck for RedisPing {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// The broker's publishing channel is open (or can be opened).
pub struct RabbitMq(pub Arc<Broker>);

#[async_trait::async_trait]
impl HealthCheck for RabbitMq {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<(), String> {
        let channel = self.0.channel().await.map_err(|e| e.to_string())?;
        // A passive declare is a round trip that proves the connection is alive now.
        let jobs = self.0.topology().jobs.as_str();
        let probe = channel.queue_declare(
            jobs.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        );
        match tokio::time::timeout(Duration::from_secs(2), probe).await {
            Ok(Ok(_)) => Ok(()),
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
