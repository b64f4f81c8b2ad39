//! The traffic scenario the signal tests share: sync speech miss and hit, async jobs, a
//! failing job, bad and unauthorised requests, an alert through the webhook, health probes.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::{Api, Service};

/// Text whose appearance in any log or span would be a leak.
pub const SECRET_TEXT: &str = "The purple elephant whispers at midnight.";

/// Settings that make the scenario quick: admin endpoints on, fast gauges and retries.
pub fn env(admin_key: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("ORATOR_ADMIN_API_KEY", admin_key),
        ("ORATOR_GAUGE_INTERVAL_MS", "200"),
        ("ORATOR_MAX_ATTEMPTS", "2"),
        ("ORATOR_RETRY_BASE_MS", "100"),
    ]
}

/// Sync miss and hit, async jobs, a failing job, a bad request, an unauthorised request,
/// an alert through the webhook and health probes.
pub async fn run(api: &Api, worker: &Service, admin_key: &str) {
    let speech = json!({"model": "tts-1", "input": SECRET_TEXT, "voice": "alloy", "response_format": "wav"});
    let first = api.speech(speech.clone()).await;
    assert_eq!(first.status(), 200);
    // Read to the end, as a client does: the audio is cached once its stream is complete.
    first.bytes().await.unwrap();
    assert_eq!(api.speech(speech).await.headers()["x-orator-cache"], "hit");
    let job = api
        .create_job(json!({"model": "tts-1", "input": "An async job.", "voice": "de"}))
        .await;
    api.wait_for_status(job["id"].as_str().unwrap(), "succeeded", Duration::from_secs(20))
        .await;

    let admin = |method: Method, path: &str| api.http.request(method, api.url(path)).bearer_auth(admin_key);
    let set = admin(Method::PUT, "/admin/faults")
        .json(&json!({"worker_fail_ratio": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await; // workers poll the setting every second
    let failing = api
        .create_job(json!({"model": "tts-1", "input": "This one fails.", "voice": "echo"}))
        .await;
    let failed = api
        .wait_for_status(failing["id"].as_str().unwrap(), "failed", Duration::from_secs(20))
        .await;
    assert_eq!(failed["error"]["code"], "engine_failed", "{failed}");
    assert_eq!(
        admin(Method::DELETE, "/admin/faults").send().await.unwrap().status(),
        200
    );

    let bad = api
        .speech(json!({"model": "tts-1", "input": "x", "voice": "nobody"}))
        .await;
    assert_eq!(bad.status(), 400);
    let unauthorised = api.http.get(api.url("/v1/models")).send().await.unwrap();
    assert_eq!(unauthorised.status(), 401);
    assert_eq!(
        api.http
            .get(api.url("/v1/models"))
            .bearer_auth(&api.key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(api.http.get(api.url("/nowhere")).send().await.unwrap().status(), 404);
    let alert = json!({"alerts": [{"status": "firing", "labels": {"alertname": "OratorTestAlert", "severity": "ticket"},
        "annotations": {"summary": "a test alert"}, "startsAt": "2026-11-22T00:00:00Z"}]});
    assert_eq!(
        admin(Method::POST, "/admin/alerts")
            .json(&alert)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for url in [api.service.url(), worker.url()] {
        assert_eq!(reqwest::get(format!("{url}/health")).await.unwrap().status(), 200);
    }
    // Let the polled gauges and the exporters catch up.
    tokio::time::sleep(Duration::from_millis(600)).await;
}
