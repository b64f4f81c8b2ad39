//! Overload, end to end: open-loop storms above capacity (arrivals that do not wait for
//! answers), bounded in count and time. Past capacity the api answers at once with 503 +
//! Retry-After (or 429), never 500; hits are never turned into jobs; identical misses
//! share one job; every waiter and gauge goes back to zero; memory stays bounded.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use orator_e2e::{Api, TestEnv, eventually};
use serde_json::{Value, json};
use tokio::task::JoinSet;

/// What one request of a storm got.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: bool,
    cache: Option<String>,
    latency: Duration,
}

/// Sends `count` requests at `rate` per second without waiting for answers (open loop);
/// body `i` comes from `body(i)`. Each request has a client timeout of `timeout`.
async fn storm(api: &Api, count: usize, rate: f64, timeout: Duration, body: impl Fn(usize) -> Value) -> Vec<Answer> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    let url = api.url("/v1/audio/speech");
    let key = Arc::new(api.key.clone());
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..count {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let request = client.post(&url).bearer_auth(key.as_str()).json(&body(i));
        tasks.spawn(async move {
            let sent = Instant::now();
            match request.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry_after = r.headers().contains_key("retry-after");
                    let cache = r
                        .headers()
                        .get("x-orator-cache")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let _ = r.bytes().await;
                    Answer {
                        status,
                        retry_after,
                        cache,
                        latency: sent.elapsed(),
                    }
                }
                // 0 = no answer within the client's timeout.
                Err(_) => Answer {
                    status: 0,
                    retry_after: false,
                    cache: None,
                    latency: sent.elapsed(),
                },
            }
        });
    }
    tasks.join_all().await
}

fn tally(answers: &[Answer]) -> std::collections::BTreeMap<u16, usize> {
    let mut by_status = std::collections::BTreeMap::new();
    for a in answers {
        *by_status.entry(a.status).or_default() += 1;
    }
    by_status
}

/// The value of the series `series` (name with its labels, as exposed) in `text`.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(api: &Api) -> String {
    api.http
        .get(api.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Every gauge of work in progress is back to zero.
async fn settled(api: &Api) {
    eventually("in-flight gauges back to zero", Duration::from_secs(10), || async {
        let text = metrics(api).await;
        let zero = |s: &str| series(&text, s) == Some(0.0);
        (zero("orator_admission_in_flight")
            && zero("orator_admission_sync_waiters")
            && zero("orator_completion_waiters")
            && zero(r#"http_server_active_requests{http_request_method="POST",http_route="/v1/audio/speech"}"#))
        .then_some(())
    })
    .await;
}

async fn jobs(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&env.db().await)
        .await
        .unwrap()
}

const MB: u64 = 1024 * 1024;

#[tokio::test]
async fn a_hit_storm_is_shed_with_503_and_never_becomes_synthesis() {
    let env = TestEnv::new().await;
    // Injected latency makes capacity small and known: at most 8 in flight × 100 ms each
    // (a latency target above 100 ms keeps the adaptive limit at its ceiling).
    let api = env
        .api(&[
            ("ORATOR_RATE_LIMIT", "1000000"),
            ("ORATOR_ADMISSION_LATENCY_TARGET_MS", "1000"),
            ("ORATOR_ADMISSION_MAX_IN_FLIGHT", "8"),
            ("ORATOR_ADMISSION_MIN_IN_FLIGHT", "2"),
            ("ORATOR_FAULT_API_LATENCY_MS", "100"),
            ("ORATOR_FAULT_API_LATENCY_RATIO", "1"),
        ])
        .await;
    let worker = env.worker(&[]).await;
    let body =
        json!({"model": "tts-1", "input": "A storm of the same words.", "voice": "alloy", "response_format": "wav"});
    let warm = api.speech(body.clone()).await;
    assert_eq!(warm.status(), 200, "warm the cache");
    warm.bytes().await.unwrap();
    let jobs_before = jobs(&env).await;

    // ~8 x (1 / 0.1 s) = 80/s at most; send 400/s for 3 s.
    let answers = storm(&api, 1200, 400.0, Duration::from_secs(10), |_| body.clone()).await;
    let by_status = tally(&answers);
    eprintln!("hit storm: {by_status:?}");
    assert!(
        by_status.keys().all(|s| [200, 503].contains(s)),
        "only 200 or 503: {by_status:?}"
    );
    assert!(
        by_status.get(&200).copied().unwrap_or(0) >= 50,
        "capacity still served: {by_status:?}"
    );
    assert!(
        by_status.get(&503).copied().unwrap_or(0) >= 600,
        "the excess refused: {by_status:?}"
    );
    for a in &answers {
        match a.status {
            200 => assert_eq!(a.cache.as_deref(), Some("hit")),
            _ => {
                assert!(a.retry_after, "a refusal without Retry-After");
                // Refused before any work: far quicker than an admitted request's 100 ms.
                assert!(
                    a.latency < Duration::from_millis(2000),
                    "a refusal took {:?}",
                    a.latency
                );
            }
        }
    }
    assert_eq!(jobs(&env).await, jobs_before, "hits never become jobs");
    let text = metrics(&api).await;
    let shed = series(
        &text,
        r#"orator_admission_rejected_total{route="/v1/audio/speech",reason="in_flight"}"#,
    );
    assert_eq!(
        shed,
        Some(by_status[&503] as f64),
        "every refusal counted by route and reason"
    );

    settled(&api).await;
    let peak = api.service.peak_rss();
    eprintln!("api peak RSS {} MB", peak / MB);
    assert!(peak < 100 * MB, "api peak RSS {} MB", peak / MB);
    // Recovered at once.
    assert_eq!(api.speech(body).await.status(), 200);
    drop(worker);
}

#[tokio::test]
async fn a_miss_storm_is_refused_fast_beyond_the_waiter_budget_and_every_answer_is_honest() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[
            ("ORATOR_RATE_LIMIT", "1000000"),
            ("ORATOR_MAX_SYNC_WAITERS", "4"),
            ("ORATOR_SYNC_TIMEOUT_MS", "5000"),
        ])
        .await;
    // A slow engine: about 5 syntheses per second.
    let espeak = env.espeak_wrapper("slow-espeak", "sleep 0.2");
    let worker = env.worker(&[("ORATOR_ESPEAK_BINARY", &espeak)]).await;

    // Distinct texts at 40/s for 2 s: about 8x what the engine does.
    let answers = storm(&api, 80, 40.0, Duration::from_secs(15), |i| {
        json!({"model": "tts-1", "input": format!("Miss number {i} of the storm."), "voice": "alloy", "response_format": "pcm"})
    })
    .await;
    let by_status = tally(&answers);
    eprintln!("miss storm: {by_status:?}");
    assert!(
        by_status.keys().all(|s| [200, 503].contains(s)),
        "only 200 or 503 (no 500, no 504: waiters are few enough to be answered in time): {by_status:?}"
    );
    let served = by_status.get(&200).copied().unwrap_or(0);
    assert!(served >= 4, "the engine's capacity was used: {by_status:?}");
    for a in answers.iter().filter(|a| a.status == 503) {
        assert!(a.retry_after);
        assert!(
            a.latency < Duration::from_millis(1000),
            "a refusal took {:?}",
            a.latency
        );
    }
    // Jobs exist only for the requests that were admitted to wait.
    assert_eq!(jobs(&env).await, served as i64);
    let text = metrics(&api).await;
    let refused = series(
        &text,
        r#"orator_admission_rejected_total{route="/v1/audio/speech",reason="sync_waiters"}"#,
    );
    assert_eq!(refused, Some(by_status.get(&503).copied().unwrap_or(0) as f64));
    settled(&api).await;
    drop(worker);
}

#[tokio::test]
async fn identical_concurrent_misses_share_one_job() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let espeak = env.espeak_wrapper("slow-espeak", "sleep 0.5");
    let _worker = env.worker(&[("ORATOR_ESPEAK_BINARY", &espeak)]).await;
    let body =
        json!({"model": "tts-1", "input": "Ten callers, one synthesis.", "voice": "alloy", "response_format": "wav"});

    let answers = storm(&api, 10, 100.0, Duration::from_secs(15), |_| body.clone()).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let sources: Vec<_> = answers.iter().map(|a| a.cache.clone().unwrap()).collect();
    assert_eq!(sources.iter().filter(|s| *s == "miss").count(), 1, "{sources:?}");
    assert_eq!(sources.iter().filter(|s| *s == "joined").count(), 9, "{sources:?}");
    assert_eq!(jobs(&env).await, 1, "one job for ten identical requests");
    let text = metrics(&api).await;
    assert_eq!(series(&text, "orator_single_flight_joined_total"), Some(9.0));
    settled(&api).await;
}

#[tokio::test]
async fn a_job_backlog_beyond_the_bound_refuses_new_jobs_with_503() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[
            ("ORATOR_RATE_LIMIT", "1000000"),
            ("ORATOR_ADMISSION_MAX_QUEUED_JOBS", "5"),
            ("ORATOR_ADMISSION_BACKLOG_POLL_MS", "100"),
        ])
        .await;
    // No worker: jobs stay queued.
    for i in 0..6 {
        api.create_job(json!({"model": "tts-1", "input": format!("Backlog {i}"), "voice": "alloy"}))
            .await;
    }
    let refused = eventually("the backlog bound to bite", Duration::from_secs(5), || async {
        let r = api
            .request(reqwest::Method::POST, "/v1/jobs")
            .json(&json!({"model": "tts-1", "input": "One too many", "voice": "alloy"}))
            .send()
            .await
            .unwrap();
        (r.status() == 503).then_some(r)
    })
    .await;
    assert!(refused.headers().contains_key("retry-after"));
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["type"], "server_error");
    assert_eq!(error["error"]["code"], "overloaded");
    // A worker drains the queue and submissions are accepted again.
    let _worker = env.worker(&[]).await;
    eventually("submissions accepted again", Duration::from_secs(30), || async {
        let r = api
            .request(reqwest::Method::POST, "/v1/jobs")
            .json(&json!({"model": "tts-1", "input": "Room again", "voice": "alloy"}))
            .send()
            .await
            .unwrap();
        (r.status() == 202).then_some(())
    })
    .await;
}

#[tokio::test]
async fn redis_down_opens_the_breaker_and_speech_is_still_served() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[
            ("ORATOR_REDIS_BREAKER_FAILURES", "3"),
            ("ORATOR_REDIS_BREAKER_OPEN_MS", "1000"),
        ])
        .await;
    let _worker = env.worker(&[]).await;
    env.redis.cut();
    for i in 0..4 {
        let r = api
            .speech(json!({"model": "tts-1", "input": format!("Redis is away {i}."), "voice": "alloy", "response_format": "pcm"}))
            .await;
        assert_eq!(r.status(), 200, "served without the cache");
    }
    let text = metrics(&api).await;
    assert_eq!(series(&text, "orator_cache_breaker_open"), Some(1.0), "breaker open");
    env.redis.restore();
    eventually("the breaker to close", Duration::from_secs(10), || async {
        let _ = api
            .speech(json!({"model": "tts-1", "input": "Redis is back.", "voice": "alloy", "response_format": "pcm"}))
            .await;
        (series(&metrics(&api).await, "orator_cache_breaker_open") == Some(0.0)).then_some(())
    })
    .await;
}
