//! The Prometheus recorder and the `/metrics` route.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds. 0.25 s and 1 s are exact SLO thresholds: a latency SLO
/// whose threshold falls between buckets cannot be computed from the histogram.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Size buckets in bytes: 100 B to 10 MB.
pub const SIZE_BUCKETS: &[f64] = &[100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// Installs the global recorder. Every metric whose name ends in `_seconds` gets
/// `LATENCY_BUCKETS` unless `buckets` names it more precisely.
pub fn install(buckets: &[(&str, &[f64])]) -> Result<PrometheusHandle, BuildError> {
    let mut builder = PrometheusBuilder::new();
    for (name, values) in buckets {
        builder = builder.set_buckets_for_metric(Matcher::Full((*name).to_string()), values)?;
    }
    builder = builder.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?;
    builder = builder.set_buckets_for_metric(Matcher::Suffix("_bytes".into()), SIZE_BUCKETS)?;
    let handle = builder.install_recorder()?;
    let upkeep = handle.clone();
    // The exporter keeps histogram data until upkeep drains it.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Sums the samples of the current exposition by series name, by each `name{label="value"}`
/// and by the full series as rendered. Cheap enough for status pages.
pub fn snapshot(handle: &PrometheusHandle) -> std::collections::HashMap<String, f64> {
    let mut sums = std::collections::HashMap::new();
    for line in handle.render().lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else { continue };
        let name = series.split('{').next().unwrap_or(series);
        *sums.entry(name.to_owned()).or_insert(0.0) += value;
        if series != name {
            *sums.entry(series.to_owned()).or_insert(0.0) += value;
        }
        if let Some(labels) = series
            .strip_prefix(name)
            .and_then(|l| l.strip_prefix('{')?.strip_suffix('}'))
        {
            for pair in labels.split(',') {
                *sums.entry(format!("{name}{{{pair}}}")).or_insert(0.0) += value;
            }
        }
    }
    sums
}

/// `GET /metrics` in the Prometheus text format; with a `token`, only for requests that
/// send `Authorization: Bearer <token>` (others get 401).
pub fn router(handle: PrometheusHandle, token: Option<String>) -> Router {
    Router::new().route("/metrics", get(render)).with_state(Scrape {
        handle,
        token: token.map(Arc::from),
    })
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    token: Option<Arc<str>>,
}

async fn render(State(scrape): State<Scrape>, headers: HeaderMap) -> Response {
    if let Some(token) = &scrape.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.trim().as_bytes(), token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics need Authorization: Bearer <token>\n",
            )
                .into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        scrape.handle.render(),
    )
        .into_response()
}

/// Compares in time that depends only on the length, so a guess learns nothing from timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
