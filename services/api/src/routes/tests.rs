//! The HTTP edge in process: the router `serve()` runs, over a state whose PostgreSQL,
//! Redis and RabbitMQ are unreachable addresses. Everything asserted here must happen before
//! any of them is needed (admission, authentication from the key cache, the address
//! throttle, body parsing, the JSON fallbacks): a request that did reach a dependency would
//! answer 503 instead, after the pool's time-out.

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{Request, header},
};
use orator_core::{
    admission::AimdConfig,
    db::{self, api_keys},
    queue::{Broker, Relay, Topology},
};
use serde_json::Value;
use tower::ServiceExt;

use crate::{config::ApiConfig, startup, state::AppState};

/// A state over nothing: connections are opened lazily and never used by these tests.
async fn state(configure: impl FnOnce(&mut ApiConfig)) -> AppState {
    let mut config = ApiConfig::from_env().expect("the default settings parse");
    let c = &mut config.common.connections;
    c.database_url = "postgres://postgres@127.0.0.1:1/unreachable".into();
    c.redis_url = "redis://127.0.0.1:1".into();
    c.amqp_url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    configure(&mut config);
    let c = &config.common.connections;
    let pool = db::connect_lazy(&c.database_url, 1, c.db_statement_timeout).unwrap();
    let redis = c.redis().unwrap();
    let broker = std::sync::Arc::new(Broker::new(
        c.amqp_url.clone(),
        "orator-api-test",
        Topology::new("unit-"),
        Duration::from_millis(100),
    ));
    let relay = Relay::new(pool.clone(), broker.clone(), Duration::from_secs(60));
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    startup::state(&config, pool, redis, broker, relay, metrics)
        .await
        .expect("espeak-ng is installed (scripts/setup.sh)")
}

/// Status, headers and JSON body of one request through `app`.
async fn send(app: &Router, request: Request<Body>) -> (u16, axum::http::HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body));
    });
    (status, headers, json)
}

fn speech(key: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/v1/audio/speech").header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    request.body(body.into()).unwrap()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// A key the cache trusts, so requests get past authentication without PostgreSQL.
fn trusted(state: &AppState, key: &str) {
    state.keys.put(api_keys::digest(key), Some(uuid::Uuid::new_v4()));
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_the_json_error_shape() {
    let app = super::router(state(|_| {}).await);
    let (status, _, body) = send(&app, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("/nowhere"));
    let (status, _, body) = send(&app, Request::get("/v1/audio/speech").body(Body::empty()).unwrap()).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("GET is not allowed")
    );
}

#[tokio::test]
async fn a_request_without_a_key_or_with_a_known_bad_one_is_refused_without_a_lookup() {
    let state = state(|_| {}).await;
    state.keys.put(api_keys::digest("revoked"), None);
    let app = super::router(state);
    let (status, _, body) = send(&app, speech(None, "{}")).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("missing API key"),
        "{body}"
    );
    let (status, _, body) = send(&app, speech(Some("revoked"), "{}")).await;
    assert_eq!((status, code(&body)), (401, "invalid_api_key"), "{body}");
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_throttled_before_it_costs_a_lookup() {
    let state = state(|c| c.auth_failures_per_minute = 2).await;
    state.keys.put(api_keys::digest("bad"), None);
    let app = super::router(state);
    for _ in 0..2 {
        assert_eq!(send(&app, speech(Some("bad"), "{}")).await.0, 401);
    }
    // A key never seen would need PostgreSQL, which is unreachable: the 429 comes first.
    let (status, headers, body) = send(&app, speech(Some("never-seen"), "{}")).await;
    assert_eq!((status, code(&body)), (429, "rate_limit_exceeded"), "{body}");
    let retry: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

#[tokio::test]
async fn past_the_in_flight_limit_v1_requests_get_503_with_retry_after_and_others_pass() {
    let state = state(|c| {
        c.admission.in_flight = AimdConfig {
            min: 1,
            max: 1,
            initial: 1,
            ..c.admission.in_flight
        }
    })
    .await;
    let held = state.admission.enter().expect("the one slot is free");
    let app = super::router(state.clone());
    let (status, headers, body) = send(&app, speech(Some("any"), "{}")).await;
    assert_eq!((status, code(&body)), (503, "overloaded"), "{body}");
    assert!(headers.contains_key(header::RETRY_AFTER));
    // Outside /v1 there is no budget: the OpenAPI document is served while the API sheds.
    let (status, _, doc) = send(&app, Request::get("/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/audio/speech"].is_object());
    drop(held);
    let (status, _, body) = send(&app, speech(None, "{}")).await;
    assert_eq!(
        status, 401,
        "with the slot back, the request reaches authentication: {body}"
    );
}

#[tokio::test]
async fn bodies_are_refused_with_a_code_that_names_the_problem() {
    let state = state(|c| c.max_body_bytes = 1024).await;
    trusted(&state, "good");
    let app = super::router(state);
    let too_big = format!(r#"{{"model":"tts-1","voice":"alloy","input":"{}"}}"#, "a".repeat(2000));
    let cases = [
        (speech(Some("good"), too_big), 413, "body_too_large"),
        (speech(Some("good"), "{not json"), 400, "invalid_json"),
        (
            speech(Some("good"), r#"{"model":"tts-1","voice":"alloy"}"#),
            400,
            "invalid_body",
        ),
        (
            Request::post("/v1/audio/speech")
                .header(header::AUTHORIZATION, "Bearer good")
                .body(Body::from("{}"))
                .unwrap(),
            415,
            "unsupported_content_type",
        ),
    ];
    for (request, status, expected) in cases {
        let (got, _, body) = send(&app, request).await;
        assert_eq!((got, code(&body)), (status, expected), "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty(), "{body}");
    }
}
