//! The web console in a real browser (Debian's headless Chromium, driven by playwright-core
//! through tests/browser/console.mjs): the playground speaks and the audio element gets a
//! playable source; a bad key is shown to the user; the status page shows the same queue
//! depth and health as the API. Screenshots go to target/console/ (and, with
//! UPDATE_SCREENSHOTS=1, to docs/console/ for the README).

use std::time::Duration;

use orator_e2e::{TestEnv, catalogue::repo_root, eventually, json};
use serde_json::{Value, json};

/// Runs the browser script for `step` against `url`; what the page showed.
async fn browse(url: &str, key: &str, step: &str) -> Value {
    let root = repo_root();
    let out = root.join("target/console");
    std::fs::create_dir_all(&out).unwrap();
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/console.mjs"))
        .env("CONSOLE_URL", url)
        .env("API_KEY", key)
        .env("OUT_DIR", &out)
        .env("STEP", step)
        .env("PLAYWRIGHT_CORE", root.join(".tools/node_modules/playwright-core"))
        .output()
        .await
        .expect("node runs (scripts/setup.sh --tests installs it with playwright-core and chromium)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the browser script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(seen["console_errors"], json!([]), "the page logged errors");
    if step == "status" {
        assert_eq!(
            seen["failed_responses"],
            json!([]),
            "every request of the status page succeeds"
        );
    }
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        let docs = root.join("docs/console");
        std::fs::create_dir_all(&docs).unwrap();
        for entry in std::fs::read_dir(&out).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, docs.join(path.file_name().unwrap())).unwrap();
        }
    }
    seen
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[("ORATOR_CONSOLE_PROMETHEUS_URL", "http://prometheus.example:9090/")])
        .await;
    let page = api.http.get(api.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        policy.contains("connect-src 'self' http://prometheus.example:9090;"),
        "{policy}"
    );
    assert!(page.text().await.unwrap().contains("/console/console.js"));
    let script = api.http.get(api.url("/console/console.js")).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let config: Value = json(api.http.get(api.url("/console/config.json"))).await;
    assert_eq!(config["prometheus_url"], "http://prometheus.example:9090");
    assert_eq!(config["alertmanager_url"], Value::Null);
    let missing = api.http.get(api.url("/console/secrets.txt")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.unwrap()["error"]["code"], "not_found");
}

#[tokio::test]
async fn the_playground_speaks_and_shows_a_bad_key_to_the_user() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[("ORATOR_CONSOLE_JAEGER_URL", "http://jaeger.example:16686")])
        .await;
    let _worker = env.worker(&[]).await;
    let seen = browse(&api.service.url(), &api.key, "playground").await;
    assert_eq!(seen["title"], "Orator console");
    let groups = seen["voice_groups"].as_array().unwrap();
    assert!(groups.iter().any(|g| g == "espeak-ng · en-us"), "{groups:?}");
    let duration = seen["audio_duration"].as_f64().unwrap();
    assert!(duration > 0.5, "the audio element plays {duration} s");
    assert!(seen["audio_src"].as_str().unwrap().starts_with("blob:"));
    assert_eq!(seen["cache"], "miss");
    let trace = seen["trace"].as_str().unwrap();
    assert!(
        trace.len() == 32 && trace.chars().all(|c| c.is_ascii_hexdigit()),
        "{trace}"
    );
    assert!(seen["latency"].as_str().unwrap().ends_with(" ms"));
    // MP3 streams into the player: playable before the answer is complete.
    let mp3 = &seen["mp3"];
    println!("mp3 in the playground: {mp3}");
    assert_eq!(mp3["streamed"], "true", "{mp3}");
    assert!(mp3["src"].as_str().unwrap().starts_with("blob:"), "{mp3}");
    let (playable, complete) = (
        mp3["playable_after_ms"].as_f64().unwrap(),
        mp3["complete_after_ms"].as_f64().unwrap(),
    );
    assert!(
        playable < complete,
        "first audio playable at {playable} ms, answer complete at {complete} ms"
    );
    assert!(mp3["duration"].as_f64().unwrap() > 3.0, "{mp3}");
    let error = seen["bad_key_error"].as_str().unwrap();
    assert!(error.starts_with("401: invalid API key"), "{error}");
    assert_eq!(seen["error_role"], "alert", "announced to screen readers");
    // The only failures are the bad key's: its voice list and its speech request.
    assert_eq!(
        seen["failed_responses"],
        json!(["401 /v1/audio/voices", "401 /v1/audio/speech"])
    );
}

#[tokio::test]
async fn the_status_page_shows_the_queue_depth_and_health_the_api_reports() {
    let env = TestEnv::new().await;
    // No worker: jobs wait in the queue, so the depth is a number worth comparing.
    let api = env.api(&[("ORATOR_CONSOLE_REFRESH_MS", "1000")]).await;
    for i in 0..3 {
        let response = api
            .http
            .post(api.url("/v1/jobs"))
            .bearer_auth(&api.key)
            .json(&json!({"model": "tts-1", "voice": "alloy", "input": format!("Waiting job {i}.")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let summary = eventually("three jobs in the queue", Duration::from_secs(20), || async {
        let summary: Value = json(api.http.get(api.url("/monitoring/summary"))).await;
        (summary["queues"][0]["messages"] == 3).then_some(summary)
    })
    .await;
    let seen = browse(&api.service.url(), &api.key, "status").await;

    let queue = &summary["queues"][0];
    let shown = seen["queues"].as_array().unwrap();
    assert_eq!(
        shown[0],
        json!([queue["queue"], "3", "0"]),
        "the page shows the API's queue: {shown:?}"
    );
    let health: Value = json(api.http.get(api.url("/health"))).await;
    let readiness = seen["readiness"].as_str().unwrap();
    assert_eq!(readiness, format!("ready ({})", health["status"].as_str().unwrap()));
    let checks: Vec<(String, String)> = seen["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().to_owned(), c[1].as_str().unwrap().to_owned()))
        .collect();
    let expected: Vec<(String, String)> = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(checks, expected);
    // Without Prometheus the SLIs come from the service's own numbers, and the page says so.
    let slos = seen["slos"].as_array().unwrap();
    assert_eq!(slos.len(), 4);
    assert_eq!(slos[1][1], "needs Prometheus");
    assert!(seen["alerts"][0].as_str().unwrap().contains("not configured"));
    // The caller's three jobs, queued.
    let jobs = seen["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    assert!(jobs.iter().all(|j| j[1] == "queued"), "{jobs:?}");
    assert!(
        seen["in_flight"].as_str().unwrap().ends_with(" of 64"),
        "{}",
        seen["in_flight"]
    );
    assert!(seen["phone_overflow"].as_f64().unwrap() <= 0.0, "wider than a phone");
}
