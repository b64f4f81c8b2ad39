//! What the api and the worker share: configuration helpers, domain types, PostgreSQL
//! repositories, the Redis cache and rate limiter, the RabbitMQ topology and outbox, and
//! the speech orchestration with its admission control.

pub mod admission;
pub mod breaker;
pub mod cache;
pub mod captions;
pub mod completion;
pub mod config;
pub mod db;
pub mod domain;
pub mod failure;
pub mod faults;
pub mod gauges;
pub mod health;
pub mod hot_cache;
pub mod metrics;
pub mod queue;
pub mod speech;
pub mod startup;
pub mod stream;

/// Source revision this build came from (`ORATOR_REVISION` at build time, else git).
pub const REVISION: &str = env!("ORATOR_REVISION");

/// How Orator's binaries identify themselves in every signal.
pub fn service_info(name: &'static str) -> orator_telemetry::ServiceInfo {
    orator_telemetry::ServiceInfo {
        name,
        version: env!("CARGO_PKG_VERSION"),
        revision: REVISION,
        metrics_namespace: "orator",
    }
}
