//! Health checks: `/health/live`, `/health/ready` and the detailed `/health`.

use std::{sync::Arc, time::Duration, time::Instant};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;

/// 1 when the check last passed, 0 when it failed.
pub const CHECK_STATUS: &str = "health_check_status";
/// How long each check took.
pub const CHECK_DURATION: &str = "health_check_duration_seconds";

/// Describes the health metrics.
pub fn describe() {
    metrics::describe_gauge!(CHECK_STATUS, "1 when the health check last passed, 0 when it failed.");
    metrics::describe_histogram!(CHECK_DURATION, metrics::Unit::Seconds, "Health check latency.");
}

/// One dependency probe.
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync {
    /// Stable name used in the JSON report and metric labels.
    fn name(&self) -> &'static str;
    /// Details worth showing (pool stats, queue depths) when healthy; `Err(message)` when
    /// the dependency cannot be used.
    async fn check(&self) -> Result<Option<serde_json::Value>, String>;
}

/// Whether a failing check makes the service not ready or only degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Criticality {
    /// The service cannot do its work without it: not ready.
    Critical,
    /// The service keeps working with less (e.g. a cache): degraded.
    Optional,
}

/// Status of one check or of the whole service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything works.
    Healthy,
    /// Working with reduced capability.
    Degraded,
    /// Cannot serve.
    Unhealthy,
}

/// Result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Check name.
    pub name: &'static str,
    /// Outcome.
    pub status: Status,
    /// Time the check took.
    pub latency_ms: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the check saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// Result of all checks.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Worst status, with optional checks counting as degraded at most.
    pub status: Status,
    /// Each check.
    pub checks: Vec<CheckReport>,
}

/// A set of checks run in parallel, each under a timeout.
#[derive(Clone)]
pub struct Registry {
    checks: Vec<(Arc<dyn HealthCheck>, Criticality)>,
    timeout: Duration,
}

impl Registry {
    /// An empty registry whose checks each get `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            checks: Vec::new(),
            timeout,
        }
    }

    /// Adds a check.
    pub fn with(mut self, check: impl HealthCheck + 'static, criticality: Criticality) -> Self {
        self.checks.push((Arc::new(check), criticality));
        self
    }

    /// Runs every check concurrently.
    pub async fn run(&self) -> Report {
        let runs = self.checks.iter().map(|(check, criticality)| async move {
            let start = Instant::now();
            let outcome = match tokio::time::timeout(self.timeout, check.check()).await {
                Ok(result) => result,
                Err(_) => Err(format!("timed out after {} ms", self.timeout.as_millis())),
            };
            let latency = start.elapsed().as_secs_f64();
            let status = match (&outcome, criticality) {
                (Ok(_), _) => Status::Healthy,
                (Err(_), Criticality::Critical) => Status::Unhealthy,
                (Err(_), Criticality::Optional) => Status::Degraded,
            };
            metrics::gauge!(CHECK_STATUS, "check" => check.name()).set(if outcome.is_ok() { 1.0 } else { 0.0 });
            metrics::histogram!(CHECK_DURATION, "check" => check.name()).record(latency);
            let (details, error) = match outcome {
                Ok(details) => (details, None),
                Err(e) => (None, Some(e)),
            };
            CheckReport {
                name: check.name(),
                status,
                latency_ms: latency * 1000.0,
                error,
                details,
            }
        });
        let checks = futures::future::join_all(runs).await;
        let status = if checks.iter().any(|c| c.status == Status::Unhealthy) {
            Status::Unhealthy
        } else if checks.iter().any(|c| c.status == Status::Degraded) {
            Status::Degraded
        } else {
            Status::Healthy
        };
        Report { status, checks }
    }
}

/// `/health/live`, `/health/ready` and `/health`.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route(
            "/health/live",
            get(|| async { Json(serde_json::json!({ "status": "healthy" })) }),
        )
        .route("/health/ready", get(ready))
        .route("/health", get(detailed))
        .with_state(registry)
}

fn status_code(report: &Report) -> StatusCode {
    match report.status {
        Status::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    }
}

async fn ready(State(registry): State<Registry>) -> impl IntoResponse {
    let report = registry.run().await;
    (
        status_code(&report),
        Json(serde_json::json!({ "status": report.status })),
    )
}

async fn detailed(State(registry): State<Registry>) -> impl IntoResponse {
    let report = registry.run().await;
    (status_code(&report), Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, Result<Option<serde_json::Value>, String>);

    #[async_trait::async_trait]
    impl HealthCheck for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        async fn check(&self) -> Result<Option<serde_json::Value>, String> {
            self.1.clone()
        }
    }

    struct Hangs;

    #[async_trait::async_trait]
    impl HealthCheck for Hangs {
        fn name(&self) -> &'static str {
            "hangs"
        }
        async fn check(&self) -> Result<Option<serde_json::Value>, String> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn optional_failure_degrades_critical_failure_fails() {
        let ok = Registry::new(Duration::from_secs(1))
            .with(Fixed("db", Ok(None)), Criticality::Critical)
            .with(Fixed("cache", Err("down".into())), Criticality::Optional);
        assert_eq!(ok.run().await.status, Status::Degraded);
        let bad = ok.with(Fixed("broker", Err("down".into())), Criticality::Critical);
        let report = bad.run().await;
        assert_eq!(report.status, Status::Unhealthy);
        assert_eq!(report.checks[2].error.as_deref(), Some("down"));
    }

    #[tokio::test]
    async fn a_hanging_check_times_out() {
        let registry = Registry::new(Duration::from_millis(50)).with(Hangs, Criticality::Critical);
        let report = registry.run().await;
        assert_eq!(report.status, Status::Unhealthy);
        assert!(report.checks[0].error.as_deref().unwrap().contains("timed out"));
    }
}
