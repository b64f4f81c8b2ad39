//! Admission at the edge: every `/v1` request takes a slot of the in-flight budget before
//! anything else runs (auth, Redis, PostgreSQL), so past capacity the api refuses at once
//! with 503 + `Retry-After` instead of queueing. Health and metrics routes never pass here.
//! Refusals, whichever budget made them, are counted here by route and reason.

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use orator_core::admission::{REJECTED, Reason};
use orator_telemetry::http::UNMATCHED_ROUTE;

use crate::{
    error::{ApiError, Shed},
    routes::speech::WaitedForSynthesis,
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
            count(route.as_ref(), rejection.reason);
            return ApiError::Overloaded(rejection).into_response();
        }
    };
    let response = next.run(request).await;
    let extensions = response.extensions();
    if let Some(Shed(reason)) = extensions.get::<Shed>() {
        count(route.as_ref(), *reason);
        drop(slot);
    } else if extensions.get::<WaitedForSynthesis>().is_some() {
        // Its time was the engine's, not a sign of this process's load.
        drop(slot);
    } else {
        slot.complete();
    }
    state.admission.left();
    response
}

fn count(route: Option<&MatchedPath>, reason: Reason) {
    let route = route.map_or(UNMATCHED_ROUTE, MatchedPath::as_str).to_owned();
    metrics::counter!(REJECTED, "route" => route, "reason" => reason.as_str()).increment(1);
}
