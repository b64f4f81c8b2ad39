//! Admission at the edge: every `/v1` request takes a slot of the in-flight budget before
//! anything else runs (tracing, auth, Redis, PostgreSQL), so past capacity the api refuses
//! at once with 503 + `Retry-After` instead of queueing. A refusal here must cost far less
//! than an answer, or refusing the excess eats the capacity it protects: it gets no span
//! and no log line of its own (one summary line a second), only its metrics. Health and
//! metrics routes never pass here. Refusals, whichever budget made them, are counted here
//! by route and reason.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use orator_core::admission::{REJECTED, Reason};
use orator_telemetry::http::UNMATCHED_ROUTE;

use crate::{
    error::{ApiError, Shed},
    routes::speech::NoLatencySample,
    state::AppState,
};

/// Routes whose refusal counters exist from the start.
pub const ROUTES: &[&str] = &["/v1/audio/speech", "/v1/jobs"];

/// The middleware.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().cloned();
    let slot = match state.admission.enter() {
        Ok(slot) => slot,
        Err(rejection) => {
            let start = Instant::now();
            count(route.as_ref(), rejection.reason);
            let response = ApiError::Overloaded(rejection).into_response();
            if state.config.instrument_http {
                let route = route.as_ref().map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
                orator_telemetry::http::record_outside(request.method(), route, 503, start);
            }
            log_sampled(rejection.reason);
            return response;
        }
    };
    let response = next.run(request).await;
    let extensions = response.extensions();
    if let Some(Shed(reason)) = extensions.get::<Shed>() {
        count(route.as_ref(), *reason);
        drop(slot);
    } else if extensions.get::<NoLatencySample>().is_some() {
        // Its time was the engine's or PostgreSQL's, bounded by budgets of their own.
        drop(slot);
    } else {
        slot.complete();
    }
    state.admission.left();
    response
}

/// Refusals since the last summary line.
static REFUSED: AtomicU64 = AtomicU64::new(0);
/// The second of the last summary line.
static LOGGED_AT: AtomicU64 = AtomicU64::new(0);

fn log_sampled(reason: Reason) {
    let refused = REFUSED.fetch_add(1, Ordering::Relaxed) + 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if LOGGED_AT.swap(now, Ordering::Relaxed) != now {
        REFUSED.fetch_sub(refused, Ordering::Relaxed);
        tracing::warn!(
            refused,
            reason = reason.as_str(),
            "shedding load: requests refused since the last line"
        );
    }
}

fn count(route: Option<&MatchedPath>, reason: Reason) {
    let route = route.map_or(UNMATCHED_ROUTE, MatchedPath::as_str).to_owned();
    metrics::counter!(REJECTED, "route" => route, "reason" => reason.as_str()).increment(1);
}
