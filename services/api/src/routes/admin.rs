//! `/admin/*`: fault injection and the Alertmanager webhook receiver. Enabled only when
//! `ORATOR_ADMIN_API_KEY` is set, and guarded by that key.

use axum::{
    Json,
    extract::{FromRequestParts, Request, State},
    http::{header, request::Parts},
    middleware::Next,
    response::Response,
};
use orator_core::{
    db::api_keys,
    faults::{self, Faults},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{error::ApiError, extract::ApiJson, state::AppState};

/// Alerts received through the webhook, by alert name and status.
pub const ALERTS_RECEIVED: &str = "orator_alerts_received_total";

/// The admin routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_faults, set_faults, reset_faults))
        .routes(routes!(receive_alerts))
}

/// A request bearing the admin key.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = &state.config.admin_api_key else {
            return Err(ApiError::NotFound(
                "admin endpoints are disabled (ORATOR_ADMIN_API_KEY is unset)".into(),
            ));
        };
        let given = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        // Digests are compared, not keys: how long `==` takes then says nothing about how
        // much of the key a guess got right.
        let matches = |key: &str| api_keys::digest(key.trim()) == api_keys::digest(expected);
        match given.and_then(|v| v.strip_prefix("Bearer ")) {
            Some(key) if matches(key) => Ok(Self),
            _ => Err(ApiError::Unauthorized(
                "admin endpoints need Authorization: Bearer <ORATOR_ADMIN_API_KEY>",
            )),
        }
    }
}

/// Faults in force.
#[utoipa::path(get, path = "/admin/faults", tag = "admin", responses((status = 200, body = Faults)))]
async fn get_faults(State(state): State<AppState>, _admin: Admin) -> Json<Faults> {
    Json(state.faults.get())
}

/// Switch faults on for the api and every worker (applied within about two seconds).
#[utoipa::path(put, path = "/admin/faults", tag = "admin", request_body = Faults, responses((status = 200, body = Faults)))]
async fn set_faults(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(faults): ApiJson<Faults>,
) -> Result<Json<Faults>, ApiError> {
    faults.validate().map_err(|message| ApiError::BadRequest {
        status: axum::http::StatusCode::BAD_REQUEST,
        code: "invalid_faults",
        message,
    })?;
    state
        .faults
        .set(faults)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(faults))
}

/// Back to the start-up setting (normally: no faults).
#[utoipa::path(delete, path = "/admin/faults", tag = "admin", responses((status = 200, body = Faults)))]
async fn reset_faults(State(state): State<AppState>, _admin: Admin) -> Result<Json<Faults>, ApiError> {
    state.faults.reset().await.map_err(|e| ApiError::Internal(e.into()))?;
    Ok(Json(state.faults.get()))
}

/// The parts of Alertmanager's webhook payload that are logged.
#[derive(Debug, Deserialize)]
struct Webhook {
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
struct Alert {
    status: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "startsAt")]
    starts_at: String,
}

/// Alertmanager webhook receiver: one JSON log line per alert, so alerts are visible in
/// the logs (and Kibana) without outside services.
#[utoipa::path(
    post,
    path = "/admin/alerts",
    tag = "admin",
    request_body = Object,
    responses((status = 200, description = "Alerts logged"))
)]
async fn receive_alerts(_admin: Admin, ApiJson(body): ApiJson<Value>) -> Result<Json<Value>, ApiError> {
    let webhook: Webhook = serde_json::from_value(body).map_err(|e| ApiError::BadRequest {
        status: axum::http::StatusCode::BAD_REQUEST,
        code: "invalid_webhook",
        message: format!("not an Alertmanager webhook payload: {e}"),
    })?;
    for alert in webhook.alerts.iter().take(MAX_ALERTS_PER_CALL) {
        let get = |map: &std::collections::BTreeMap<String, String>, k: &str| map.get(k).cloned().unwrap_or_default();
        let alertname = get(&alert.labels, "alertname");
        tracing::warn!(
            alertname = %alertname,
            status = %alert.status,
            severity = %get(&alert.labels, "severity"),
            job = %get(&alert.labels, "job"),
            summary = %get(&alert.annotations, "summary"),
            starts_at = %alert.starts_at,
            "alert received"
        );
        // Label values come from the request: only bounded, well-formed ones become series.
        let status = match alert.status.as_str() {
            "firing" => "firing",
            "resolved" => "resolved",
            _ => "other",
        };
        metrics::counter!(ALERTS_RECEIVED, "alertname" => metric_alertname(&alertname), "status" => status)
            .increment(1);
    }
    Ok(Json(json!({ "received": webhook.alerts.len() })))
}

/// Alerts read from one webhook call; Alertmanager sends far fewer (`max_alerts`).
const MAX_ALERTS_PER_CALL: usize = 1_000;
/// Distinct alert names counted; more are counted as `other`.
const MAX_ALERT_NAMES: usize = 100;

/// The alert name as a label value: Prometheus's own name syntax, and at most
/// [`MAX_ALERT_NAMES`] distinct ones per process, so the request cannot grow the series set.
fn metric_alertname(name: &str) -> String {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let well_formed = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return "other".into();
    }
    let mut seen = SEEN.lock().expect("alert names poisoned");
    if seen.iter().any(|n| n == name) {
        return name.to_owned();
    }
    if seen.len() < MAX_ALERT_NAMES {
        seen.push(name.to_owned());
        return name.to_owned();
    }
    "other".into()
}

/// Adds the injected API latency to `/v1` requests.
pub async fn inject_latency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let faults = state.faults.get();
    if request.uri().path().starts_with("/v1/") && faults::roll(faults.api_latency_ratio) {
        tokio::time::sleep(std::time::Duration::from_millis(faults.api_latency_ms)).await;
    }
    next.run(request).await
}
