//! Shared application state.

use std::{sync::Arc, time::Instant};

use metrics_exporter_prometheus::PrometheusHandle;
use orator_core::{admission::Admission, cache::Redis, faults::FaultSwitch, queue::Broker, speech::Speech};
use orator_engine::Engines;
use sqlx::PgPool;

use crate::{config::ApiConfig, limits::WindowLimit};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (rate limits, faults; the cache is reached through `speech`).
    pub redis: Redis,
    /// Sync and async speech.
    pub speech: Speech,
    /// The admission budgets.
    pub admission: Admission,
    /// The engines' catalogues, for validation and listings; synthesis happens in workers.
    pub engines: Engines,
    /// Which engine serves each model name.
    pub models: orator_core::domain::Models,
    /// espeak-ng's version, for the summary.
    pub engine_version: String,
    /// The broker, for queue depths.
    pub broker: Arc<Broker>,
    /// Rendered metrics, for the summary.
    pub metrics: PrometheusHandle,
    /// Process start.
    pub started: Instant,
    /// Injected faults in force.
    pub faults: FaultSwitch,
    /// Recently authenticated keys.
    pub keys: crate::key_cache::KeyCache,
    /// Failed authentications per client address.
    pub auth_failures: WindowLimit<std::net::IpAddr>,
    /// The per-key rate limit while Redis is unavailable.
    pub local_rate: WindowLimit<uuid::Uuid>,
    /// Settings.
    pub config: Arc<ApiConfig>,
}
