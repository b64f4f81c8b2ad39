//! HTTP instrumentation: request ids, one span and one access-log line per request, and
//! the request-duration histogram labelled by route template.

use std::time::Instant;

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::HeaderName,
    middleware::{self, Next},
    response::Response,
};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tracing::Instrument;

/// Request-duration histogram, named after the OpenTelemetry HTTP semantic conventions.
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Route label for requests that matched no route: raw paths would be unbounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route of `router` (and its fallback) with request ids, a span, metrics and
/// an access log. Routes merged in afterwards (health, metrics) stay unobserved.
pub fn instrument<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(middleware::from_fn(observe)),
    )
}

async fn observe(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, |p| p.as_str())
        .to_owned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!("http_request", method = %method, route = %route, request_id = %request_id);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    metrics::histogram!(
        REQUEST_DURATION,
        "http_request_method" => method.clone(),
        "http_route" => route.clone(),
        "http_response_status_code" => status.to_string(),
    )
    .record(elapsed.as_secs_f64());
    let _enter = span.enter();
    tracing::info!(
        method = %method,
        route = %route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "request completed"
    );
    response
}
