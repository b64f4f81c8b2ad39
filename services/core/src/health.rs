//! Health checks for Orator's dependencies.

use std::{sync::Arc, time::Duration};

use orator_telemetry::health::HealthCheck;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{cache::Redis, queue::Broker};

/// The neural models: ready once loaded and warmed up; while they load, or after a load
/// failed (the message names the file), the process is not ready though it serves the
/// other engines.
pub enum Models {
    /// The engine, loading or loaded.
    Engine(Arc<orator_engine::piper::PiperEngine>),
    /// Its voices could not even be read.
    Unreadable(String),
}

#[async_trait::async_trait]
impl HealthCheck for Models {
    fn name(&self) -> &'static str {
        "models"
    }
    async fn check(&self) -> Result<Option<Value>, String> {
        use orator_engine::{Synthesizer, piper::LoadState};
        let engine = match self {
            Self::Engine(engine) => engine,
            Self::Unreadable(message) => return Err(message.clone()),
        };
        let voices: Vec<&str> = engine.voices().iter().map(|v| v.id.as_str()).collect();
        match engine.state() {
            LoadState::Ready => Ok(Some(json!({ "engine": engine.name(), "voices": voices }))),
            LoadState::Loading => Err(format!("loading {}", voices.join(", "))),
            LoadState::NotLoaded => Err("not loaded yet".into()),
            LoadState::Failed(message) => Err(format!("failed to load: {message}")),
        }
    }
}

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

/// The broker answers within the given time; details are each queue's depth and consumers.
/// The time must be shorter than the registry's per-check timeout, or a stuck connection
/// would never be reset.
pub struct RabbitMq(pub Arc<Broker>, pub Duration);

impl RabbitMq {
    /// A check that leaves a quarter of the registry's `check_timeout` for the reset.
    pub fn within(broker: Arc<Broker>, check_timeout: Duration) -> Self {
        Self(broker, check_timeout * 3 / 4)
    }

    fn reset(&self) {
        // Detached: the registry may drop this check before a slow close finishes.
        let broker = self.0.clone();
        tokio::spawn(async move { broker.reset().await });
    }
}

#[async_trait::async_trait]
impl HealthCheck for RabbitMq {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> Result<Option<Value>, String> {
        // Passive declares are round trips: they prove the connection is alive now.
        match tokio::time::timeout(self.1, crate::gauges::queue_stats(&self.0)).await {
            Ok(Ok(stats)) => Ok(Some(json!({ "queues": stats }))),
            Ok(Err(e)) => {
                self.reset();
                Err(e.to_string())
            }
            Err(_) => {
                self.reset();
                Err(format!("queue probe took longer than {:?}", self.1))
            }
        }
    }
}
