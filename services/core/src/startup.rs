//! The start-up both binaries share: telemetry first (so everything after it is logged and
//! traced), then the handles to Redis and RabbitMQ, espeak-ng, and the listener. What
//! differs between them (the api's database migrations and routes, the worker's engines
//! and consumer) stays in their own `startup.rs`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use orator_engine::{EngineError, EspeakConfig, EspeakEngine};
use orator_telemetry::{Guard, InitError, health::Registry};
use tokio::net::TcpListener;

use crate::{
    cache::Redis,
    config::Common,
    queue::{Broker, Topology},
};

/// How long a RabbitMQ connection attempt may take before the broker reports it failed.
const BROKER_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A start-up step that failed, named by the setting to look at.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Logs, traces or metrics could not be installed (an `OTEL_*` or `ORATOR_LOG_FORMAT`).
    #[error("starting telemetry: {0}")]
    Telemetry(#[from] InitError),
    /// `REDIS_URL` does not describe a Redis server.
    #[error("REDIS_URL: {0}")]
    Redis(#[from] deadpool_redis::CreatePoolError),
    /// espeak-ng could not be started or listed no voices.
    #[error("starting espeak-ng (ORATOR_ESPEAK_BINARY): {0}")]
    Espeak(#[from] EngineError),
    /// `ORATOR_HTTP_ADDR` could not be bound.
    #[error("binding ORATOR_HTTP_ADDR {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why it failed (in use, not permitted...).
        source: std::io::Error,
    },
}

/// What every Orator process holds once it has started.
pub struct Foundations {
    /// Keeps logs, traces and metrics alive; dropping it flushes the exporters.
    pub telemetry: Guard,
    /// The cache and rate-limit store (connects lazily: Redis may come later).
    pub redis: Redis,
    /// The RabbitMQ connection, named `service` in the broker's connection list.
    pub broker: Arc<Broker>,
}

/// Installs telemetry for `service` (with `buckets` for its own histograms), describes the
/// shared metrics, and opens Redis and the broker as `common` says.
pub fn foundations(
    service: &'static str,
    buckets: &[(&str, &[f64])],
    common: &Common,
) -> Result<Foundations, StartupError> {
    let telemetry = orator_telemetry::init(crate::service_info(service), buckets)?;
    crate::metrics::describe();
    let c = &common.connections;
    Ok(Foundations {
        telemetry,
        redis: c.redis()?,
        broker: Arc::new(Broker::new(
            c.amqp_url.clone(),
            service,
            Topology::new(&c.queue_prefix),
            BROKER_CONNECT_TIMEOUT,
        )),
    })
}

/// Starts espeak-ng with at most `max_concurrency` processes at once and reads its voices.
pub async fn espeak(common: &Common, max_concurrency: usize) -> Result<EspeakEngine, StartupError> {
    Ok(EspeakEngine::new(EspeakConfig {
        binary: common.espeak_binary.clone().into(),
        max_concurrency,
    })
    .await?)
}

/// The health endpoints over `checks` and `/metrics` (behind the token, if one is set).
pub fn probes(checks: Registry, foundations: &Foundations, common: &Common) -> axum::Router {
    orator_telemetry::health::router(checks).merge(orator_telemetry::metrics::router(
        foundations.telemetry.metrics(),
        common.metrics_token.clone(),
    ))
}

/// Binds `ORATOR_HTTP_ADDR` and logs the address it got (the port, when it asked for 0).
pub async fn listen(common: &Common) -> Result<TcpListener, StartupError> {
    let addr = common.http_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })?;
    if let Ok(local) = listener.local_addr() {
        tracing::info!(addr = %local, "listening");
    }
    Ok(listener)
}
