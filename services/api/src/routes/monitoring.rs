//! `GET /monitoring/summary`: the service at a glance, for people rather than Prometheus.

use std::collections::HashMap;

use axum::{Json, extract::State};
use orator_core::{
    admission::{IN_FLIGHT, LIMIT, REJECTED, SYNC_WAITERS},
    cache::CACHE_OPERATIONS,
    db::{jobs, outbox},
    gauges,
    metrics::{AUTH_FAILURES, RATE_LIMITED},
};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiError, state::AppState};

/// The summary route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(summary))
}

fn sum_where(snapshot: &HashMap<String, f64>, prefix: &str) -> f64 {
    snapshot
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .fold(0.0, |sum, (_, v)| sum + v)
}

/// Engine, cache, queues, jobs, requests, admission and errors in one JSON document.
#[utoipa::path(
    get,
    path = "/monitoring/summary",
    tag = "monitoring",
    security(()),
    responses((status = 200, description = "Human-readable summary", body = Object))
)]
async fn summary(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let snapshot = orator_telemetry::metrics::snapshot(&state.metrics);
    let cache = |result: &str| {
        snapshot
            .get(&format!("{CACHE_OPERATIONS}{{operation=\"get\",result=\"{result}\"}}"))
            .copied()
            .unwrap_or(0.0)
    };
    let (hits, misses, errors) = (cache("hit"), cache("miss"), cache("error"));
    let lookups = hits + misses;
    let requests = "http_server_request_duration_seconds_count";
    let status = |class: char| sum_where(&snapshot, &format!("{requests}{{http_response_status_code=\"{class}"));
    let jobs: HashMap<String, i64> = jobs::count_by_status(&state.pool).await?.into_iter().collect();
    let (pending, oldest) = outbox::backlog(&state.pool).await?;
    let queues = match gauges::queue_stats(&state.broker).await {
        Ok(stats) => json!(stats),
        Err(e) => json!({ "error": e.to_string() }),
    };
    Ok(Json(json!({
        "service": "orator-api",
        "version": env!("CARGO_PKG_VERSION"),
        "revision": orator_core::REVISION,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "engines": state.engines.iter().map(|e| json!({
            "name": e.name(),
            "voices": e.voices().len(),
        })).collect::<Vec<_>>(),
        "espeak_version": state.engine_version,
        "cache": {
            "hits": hits,
            "misses": misses,
            "errors": errors,
            "hit_ratio": if lookups > 0.0 { hits / lookups } else { 0.0 },
        },
        "queues": queues,
        "outbox": { "pending": pending, "oldest_age_seconds": oldest },
        "jobs": jobs,
        "requests": {
            "total": snapshot.get(requests).copied().unwrap_or(0.0),
            "client_errors": status('4'),
            "server_errors": status('5'),
        },
        "admission": {
            "in_flight": snapshot.get(IN_FLIGHT).copied().unwrap_or(0.0),
            "limit": snapshot.get(LIMIT).copied().unwrap_or(0.0),
            "sync_waiters": snapshot.get(SYNC_WAITERS).copied().unwrap_or(0.0),
            "rejected": snapshot.get(REJECTED).copied().unwrap_or(0.0),
        },
        "errors": {
            "auth_failures": snapshot.get(AUTH_FAILURES).copied().unwrap_or(0.0),
            "rate_limited": snapshot.get(RATE_LIMITED).copied().unwrap_or(0.0),
            "trace_export_failures": snapshot.get(orator_telemetry::traces::EXPORT_FAILURES).copied().unwrap_or(0.0),
        },
    })))
}
