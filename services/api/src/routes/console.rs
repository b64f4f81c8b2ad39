//! The web console at `/`: a speech playground and the service's live status, for a person
//! with a browser. Plain HTML, CSS and JavaScript under `services/api/console/`, embedded in
//! the binary (no build step, nothing fetched from elsewhere); the page talks to the public
//! API with the key its user types, and to Prometheus and Alertmanager directly when their
//! browser-facing URLs are configured.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

/// The console's files: name, content type, embedded bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../console/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../console/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../console/console.js"),
    ),
];

/// `/`, `/console/{file}` and `/console/config.json`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|state: State<AppState>| asset(state, Path("index.html".to_owned()))),
        )
        .route("/console/config.json", get(config))
        .route("/console/{file}", get(asset))
}

/// Where the page finds the monitoring stack (URLs as the browser reaches them; `null` when
/// not configured, and the page says so) and how often it refreshes.
async fn config(State(state): State<AppState>) -> Json<serde_json::Value> {
    let c = &state.config.console;
    Json(json!({
        "jaeger_url": c.jaeger_url,
        "prometheus_url": c.prometheus_url,
        "alertmanager_url": c.alertmanager_url,
        "refresh_seconds": c.refresh.as_secs().max(1),
    }))
}

async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, ApiError> {
    let Some((name, content_type, embedded)) = ASSETS.iter().find(|(name, ..)| *name == file) else {
        return Err(ApiError::NotFound(format!("no console file {file}")));
    };
    // ORATOR_CONSOLE_DIR: read the files from disk, so a change shows on reload.
    let body = match &state.config.console.dir {
        Some(dir) => tokio::fs::read(dir.join(name))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("ORATOR_CONSOLE_DIR/{name}: {e}")))?,
        None => embedded.to_vec(),
    };
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if *name == "index.html"
        && let Ok(policy) = HeaderValue::from_str(&state.config.console.content_security_policy())
    {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    Ok(response)
}
