//! Observability plumbing that knows nothing of the service it instruments, so a new
//! service can copy this crate unchanged: JSON logs correlated with traces, OTLP traces,
//! Prometheus metrics, HTTP middleware, context propagation over message headers,
//! timing helpers for clients, health checks and process metrics.

pub mod health;
pub mod http;
pub mod instrument;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod propagation;
pub mod shutdown;
pub mod traces;

use metrics_exporter_prometheus::PrometheusHandle;

/// What identifies the service in every signal.
#[derive(Debug, Clone, Copy)]
pub struct ServiceInfo {
    /// `service.name` (overridden by `OTEL_SERVICE_NAME`).
    pub name: &'static str,
    /// `service.version`.
    pub version: &'static str,
    /// Source revision the binary was built from.
    pub revision: &'static str,
    /// Prefix of the service's own metrics, e.g. `orator` for `orator_build_info`.
    pub metrics_namespace: &'static str,
}

/// Start-up failure of the telemetry pipeline.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The Prometheus recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// The OTLP exporter could not be built.
    #[error("traces: {0}")]
    Traces(#[from] opentelemetry_otlp::ExporterBuildError),
    /// An OTEL_* variable has a value we cannot use.
    #[error("{0}")]
    Config(String),
}

/// Keeps the pipeline alive; dropping it flushes and shuts the exporters down in order
/// (traces first, while the runtime still runs).
pub struct Guard {
    metrics: PrometheusHandle,
    traces: traces::Tracing,
}

impl Guard {
    /// Handle for rendering `/metrics`.
    pub fn metrics(&self) -> PrometheusHandle {
        self.metrics.clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.traces.shutdown();
    }
}

/// Installs logs, traces and metrics for `service`. Call once, inside the Tokio runtime
/// (the gRPC exporter needs it). `buckets` overrides histogram buckets per metric name.
pub fn init(service: ServiceInfo, buckets: &[(&str, &[f64])]) -> Result<Guard, InitError> {
    let format = logging::LogFormat::from_env(service.metrics_namespace).map_err(InitError::Config)?;
    let traces = traces::Tracing::from_env(service)?;
    logging::init(service, traces.tracer(), format);
    let metrics = metrics::install(buckets)?;
    http::describe();
    instrument::describe();
    health::describe();
    traces::describe();
    process::register(service);
    Ok(Guard { metrics, traces })
}
