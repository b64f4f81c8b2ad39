//! HTTP server instrumentation: request ids, a server span per request (honouring an
//! incoming `traceparent` and returning one), the OpenTelemetry HTTP metrics labelled by
//! route template, and one access-log line per request.

use std::time::Instant;

use axum::{
    Router,
    body::HttpBody,
    extract::{MatchedPath, Request},
    http::{HeaderName, header},
    middleware::{self, Next},
    response::Response,
};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::propagation;

/// Request-duration histogram (OpenTelemetry `http.server.request.duration`).
pub const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
/// Requests in progress (`http.server.active_requests`).
pub const ACTIVE_REQUESTS: &str = "http_server_active_requests";
/// Request body sizes (`http.server.request.body.size`).
pub const REQUEST_BODY_SIZE: &str = "http_server_request_body_size_bytes";
/// Response body sizes (`http.server.response.body.size`).
pub const RESPONSE_BODY_SIZE: &str = "http_server_response_body_size_bytes";
/// Route label for requests that matched no route: raw paths would be unbounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Describes the HTTP metrics.
pub fn describe() {
    use metrics::Unit;
    metrics::describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "HTTP requests by method, route template and status."
    );
    metrics::describe_gauge!(ACTIVE_REQUESTS, "HTTP requests in progress.");
    metrics::describe_histogram!(
        REQUEST_BODY_SIZE,
        Unit::Bytes,
        "HTTP request body sizes (Content-Length)."
    );
    metrics::describe_histogram!(RESPONSE_BODY_SIZE, Unit::Bytes, "HTTP response body sizes.");
}

/// Wraps every route of `router` (and its fallback). Routes merged in afterwards
/// (`/metrics`, `/health/*`) stay untraced and unmeasured, as probes would drown the data.
pub fn instrument<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(middleware::from_fn(observe)),
    )
}

/// Status label for a request whose client went away before the answer (nginx's 499):
/// its time is still recorded, so cancelled requests do not vanish from the histogram.
pub const CLIENT_CLOSED: &str = "499";

/// Counts a request as active until dropped; a request future dropped before its answer
/// (client gone, timeout) still leaves the gauge and records its duration and a log line.
struct InFlight {
    active: metrics::Gauge,
    method: &'static str,
    route: String,
    span: tracing::Span,
    start: Instant,
    answered: bool,
}

impl InFlight {
    fn start(method: &'static str, route: &str, span: tracing::Span, start: Instant) -> Self {
        let active =
            metrics::gauge!(ACTIVE_REQUESTS, "http_request_method" => method, "http_route" => route.to_owned());
        active.increment(1.0);
        Self {
            active,
            method,
            route: route.to_owned(),
            span,
            start,
            answered: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.active.decrement(1.0);
        if self.answered {
            return;
        }
        let elapsed = self.start.elapsed();
        let labels = [
            ("http_request_method", self.method.to_owned()),
            ("http_route", self.route.clone()),
            ("http_response_status_code", CLIENT_CLOSED.to_owned()),
        ];
        metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
        self.span.record("http.response.status_code", 499);
        self.span.in_scope(|| {
            tracing::info!(
                method = self.method,
                route = %self.route,
                status = 499,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request cancelled before its answer"
            )
        });
    }
}

/// Records, in the same duration histogram, a response given before [`instrument`]'s layer
/// ran (load shedding in front of it): no span and no log line, so that refusing a request
/// costs a small fraction of serving one, and the request still counts in every HTTP SLI.
pub fn record_outside(method: &axum::http::Method, route: &str, status: u16, start: Instant) {
    let labels = [
        ("http_request_method", method_label(method).to_owned()),
        ("http_route", route.to_owned()),
        ("http_response_status_code", status.to_string()),
    ];
    metrics::histogram!(REQUEST_DURATION, &labels).record(start.elapsed().as_secs_f64());
}

/// Methods outside the standard set collapse into `_OTHER`, as the conventions say.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "_OTHER",
    }
}

async fn observe(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(request.method());
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
    let user_agent = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!(
        "http_request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = %route,
        url.path = %request.uri().path(),
        user_agent.original = %user_agent,
        http.response.status_code = Empty,
        request_id = %request_id,
    );
    // Before the span starts: afterwards its parent is fixed.
    let _ = span.set_parent(propagation::extract_http(request.headers()));
    if let Some(size) = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<f64>().ok())
    {
        metrics::histogram!(REQUEST_BODY_SIZE, "http_request_method" => method, "http_route" => route.clone())
            .record(size);
    }
    let mut in_flight = InFlight::start(method, &route, span.clone(), start);
    let mut response = next.run(request).instrument(span.clone()).await;
    in_flight.answered = true;
    drop(in_flight);

    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    propagation::inject_http(&span, response.headers_mut());
    let labels = [
        ("http_request_method", method.to_owned()),
        ("http_route", route.clone()),
        ("http_response_status_code", status.to_string()),
    ];
    metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
    let bytes = response.body().size_hint().exact();
    if let Some(bytes) = bytes {
        metrics::histogram!(RESPONSE_BODY_SIZE, &labels).record(bytes as f64);
    }
    span.in_scope(|| {
        tracing::info!(
            method,
            route = %route,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            bytes,
            "request completed"
        )
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, routing::get};
    use std::time::Duration;
    use tower::ServiceExt;

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_dropped_before_its_answer_is_still_recorded() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let app = instrument(Router::new().route("/slow", get(std::future::pending::<&'static str>)));
        for _ in 0..2 {
            let request = axum::http::Request::get("/slow").body(Body::empty()).unwrap();
            let call = tokio::time::timeout(Duration::from_millis(5), app.clone().oneshot(request)).await;
            assert!(call.is_err(), "the route never answers");
        }
        let text = handle.render();
        assert!(
            text.contains(r#"http_server_active_requests{http_request_method="GET",http_route="/slow"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_server_request_duration_seconds_count{http_request_method="GET",http_route="/slow",http_response_status_code="499"} 2"#),
            "{text}"
        );
    }
}
