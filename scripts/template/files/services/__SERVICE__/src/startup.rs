//! Builds the service from its config and serves it until SIGTERM/SIGINT.

use std::time::Instant;

use anyhow::Context;
use orator_telemetry::health::{Criticality, HealthCheck, Registry};
use tokio::net::TcpListener;

use crate::config::Config;

/// The example health check: the process has been up for `uptime_s`. Add one check per
/// dependency (a database, a cache, a broker) and say which the service cannot work without.
struct Uptime(Instant);

#[async_trait::async_trait]
impl HealthCheck for Uptime {
    fn name(&self) -> &'static str {
        "uptime"
    }

    async fn check(&self) -> Result<Option<serde_json::Value>, String> {
        Ok(Some(serde_json::json!({"uptime_s": self.0.elapsed().as_secs()})))
    }
}

/// Serves the routes, `/health/*` and `/metrics`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let telemetry = orator_telemetry::init(crate::service_info(), &[]).context("starting telemetry")?;
    crate::metrics::describe();
    let checks = Registry::new(config.health_timeout).with(Uptime(Instant::now()), Criticality::Critical);
    // Probes and scrapes are merged after the instrumentation, so they do not drown the data.
    let app = orator_telemetry::http::instrument(crate::greetings::router())
        .merge(orator_telemetry::health::router(checks))
        .merge(orator_telemetry::metrics::router(telemetry.metrics(), config.metrics_token));
    let listener = TcpListener::bind(config.http_addr)
        .await
        .context("binding __ENV___HTTP_ADDR")?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(orator_telemetry::shutdown::signal())
        .await?;
    tracing::info!("stopped");
    drop(telemetry);
    Ok(())
}
