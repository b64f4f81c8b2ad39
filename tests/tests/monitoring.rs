//! The monitoring stack, live: a real Prometheus and Alertmanager (Debian's packages) run
//! the repository's rules and routing against the running api and worker. Targets are up,
//! every dashboard query over Orator's metrics has data, and faults make their alerts reach
//! the webhook receiver and resolve once switched off.

use std::{net::SocketAddr, time::Duration};

use orator_e2e::{
    Api, Service, TestEnv,
    catalogue::repo_root,
    eventually,
    monitoring::{self, Daemon, free_port},
    scenario,
};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN: &str = "monitoring-admin-key";

struct Stack {
    _dir: TempDir,
    prometheus: Daemon,
    _alertmanager: Daemon,
}

/// A scratch directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn addr(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

async fn stack(api: &Api, worker: &Service) -> Stack {
    let dir = std::env::temp_dir().join(format!("orator-monitoring-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let alertmanager = monitoring::alertmanager(&dir, &api.service.url(), ADMIN).await;
    let targets = [
        ("orator-api", addr(&api.service.url()), None),
        ("orator-worker", addr(&worker.url()), None),
    ];
    let prometheus = monitoring::prometheus(&dir, &targets, alertmanager.addr).await;
    Stack {
        _dir: TempDir(dir),
        prometheus,
        _alertmanager: alertmanager,
    }
}

/// Waits until the api has logged that Alertmanager delivered `alertname` with `status`.
async fn webhook_saw(api: &Api, stack: &Stack, alertname: &str, status: &str, timeout: Duration) {
    let found = tokio::time::timeout(timeout, async {
        loop {
            let seen = api.service.logs().iter().any(|l| {
                serde_json::from_str::<Value>(l).is_ok_and(|v| {
                    v["message"] == "alert received" && v["alertname"] == alertname && v["status"] == status
                })
            });
            if seen {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    if found.is_err() {
        let alerts = monitoring::query(stack.prometheus.addr, "ALERTS").await;
        panic!(
            "{alertname} did not reach the webhook as {status} within {timeout:?}; Prometheus ALERTS: {alerts:?}\n{}",
            stack.prometheus.log("prometheus")
        );
    }
}

/// An api and worker with admin endpoints, watched by a fresh Prometheus and Alertmanager.
/// The api and a worker with both engines (as the demo runs them), watched by Prometheus.
async fn watched(env: &TestEnv, worker_env: &[(&str, &str)]) -> (Api, Service, Stack) {
    let piper = TestEnv::piper();
    let mut vars: Vec<(&str, &str)> = scenario::env(ADMIN);
    vars.extend(piper.iter().map(|(k, v)| (*k, v.as_str())));
    let api = env.api(&vars).await;
    vars.extend_from_slice(worker_env);
    let worker = env.worker(&vars).await;
    let stack = stack(&api, &worker).await;
    wait_for_scrapes(&stack).await;
    (api, worker, stack)
}

async fn wait_for_scrapes(stack: &Stack) {
    eventually("both Orator targets to be up", Duration::from_secs(20), || async {
        let up = monitoring::query(stack.prometheus.addr, r#"up{job=~"orator-.*"} == 1"#).await;
        (up.len() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn targets_are_up_and_every_dashboard_query_has_data() {
    let env = TestEnv::new().await;
    let (api, worker, stack) = watched(&env, &[]).await;
    worker.wait_ready(Duration::from_secs(60)).await;
    scenario::run(&api, &worker, ADMIN).await;
    // Errors for the error panels: a statement that fails while PostgreSQL is cut, and a
    // cache lookup while Redis is.
    env.redis.cut();
    let _ = api
        .speech(json!({"model": "tts-1", "input": "Cache down.", "voice": "alloy"}))
        .await;
    env.redis.restore();
    env.pg.cut();
    let _ = api.request(Method::GET, "/v1/models").send().await;
    env.pg.restore();
    // A statement that reaches PostgreSQL: each pooled connection the cut left dead fails
    // one request (503 storage_unavailable) before the pool is clean again; /v1/models
    // (its key cached) would say nothing about that.
    eventually("the api to recover", Duration::from_secs(15), || async {
        (api.request(Method::GET, "/v1/jobs?limit=1").send().await.ok()?.status() == 200).then_some(())
    })
    .await;
    // More traffic, spread over a few scrapes, so rates have two samples.
    for i in 0..6 {
        let body = json!({"model": "tts-1", "input": format!("Keep it flowing {i}."), "voice": "echo"});
        api.speech(body.clone()).await.bytes().await.unwrap();
        api.speech(body).await.bytes().await.unwrap();
        api.create_job(json!({"model": "tts-1", "input": format!("Job {i}."), "voice": "fable"}))
            .await;
        // The neural engine's panels: phonemes, sessions, real-time factor.
        api.speech(json!({"model": "tts-1-hd", "input": format!("Neural {i}."), "voice": "alloy"}))
            .await;
        // As the blackbox exporter's readiness probes do in the demo.
        for url in [api.service.url(), worker.url()] {
            reqwest::get(format!("{url}/health/ready")).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let up = monitoring::query(stack.prometheus.addr, r#"up{job=~"orator-.*"}"#).await;
    assert_eq!(up.len(), 2);
    for series in &up {
        assert_eq!(series["value"][1], "1", "{series}");
    }

    let path = repo_root().join("monitoring/grafana/panel-queries.json");
    let queries: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(queries.len() > 30, "only {} panel queries", queries.len());
    let mut empty = Vec::new();
    for q in &queries {
        let expr = q["expr"].as_str().unwrap();
        let result = monitoring::query(stack.prometheus.addr, expr).await;
        // A quantile over a window without observations is NaN: as empty as no series.
        let has_data = result
            .iter()
            .any(|r| r["value"][1].as_str().is_some_and(|v| v != "NaN"));
        if !has_data {
            empty.push(format!("{} / {}: {expr} -> {result:?}", q["dashboard"], q["panel"]));
        }
    }
    assert!(
        empty.is_empty(),
        "{} panel queries returned no data:\n{}",
        empty.len(),
        empty.join("\n")
    );
}

#[tokio::test]
async fn drill_failing_worker_fires_worker_failure_rate_and_resolves() {
    let env = TestEnv::new().await;
    let (api, _worker, stack) = watched(&env, &[]).await;
    let admin = |m: Method, p: &str| api.http.request(m, api.url(p)).bearer_auth(ADMIN);

    assert_eq!(
        admin(Method::PUT, "/admin/faults")
            .json(&json!({"worker_fail_ratio": 1.0}))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..10 {
        api.create_job(json!({"model": "tts-1", "input": format!("Failing {i}."), "voice": "alloy"}))
            .await;
    }
    webhook_saw(
        &api,
        &stack,
        "OratorWorkerFailureRate",
        "firing",
        Duration::from_secs(60),
    )
    .await;

    assert_eq!(
        admin(Method::DELETE, "/admin/faults").send().await.unwrap().status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Healthy jobs dilute the failure ratio below the threshold.
    for i in 0..200 {
        api.create_job(
            json!({"model": "tts-1", "input": format!("Fine {i}."), "voice": "alloy", "response_format": "pcm"}),
        )
        .await;
    }
    webhook_saw(
        &api,
        &stack,
        "OratorWorkerFailureRate",
        "resolved",
        Duration::from_secs(90),
    )
    .await;
}

#[tokio::test]
async fn drill_api_latency_fires_high_latency_p95_and_resolves() {
    let env = TestEnv::new().await;
    let (api, _worker, stack) = watched(&env, &[]).await;
    let admin = |m: Method, p: &str| api.http.request(m, api.url(p)).bearer_auth(ADMIN);

    let slow = json!({"api_latency_ms": 1500, "api_latency_ratio": 1.0});
    assert_eq!(
        admin(Method::PUT, "/admin/faults")
            .json(&slow)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..4 {
        let calls = (0..5).map(|_| api.request(Method::GET, "/v1/models").send());
        futures::future::join_all(calls).await;
    }
    webhook_saw(&api, &stack, "OratorHighLatencyP95", "firing", Duration::from_secs(60)).await;

    assert_eq!(
        admin(Method::DELETE, "/admin/faults").send().await.unwrap().status(),
        200
    );
    for _ in 0..20 {
        let calls = (0..40).map(|_| api.request(Method::GET, "/v1/models").send());
        futures::future::join_all(calls).await;
    }
    webhook_saw(
        &api,
        &stack,
        "OratorHighLatencyP95",
        "resolved",
        Duration::from_secs(90),
    )
    .await;
}

#[tokio::test]
async fn drill_worker_down_fires_target_down_and_resolves() {
    let env = TestEnv::new().await;
    // A fixed port, so the restarted worker is the same scrape target.
    let worker_addr = format!("127.0.0.1:{}", free_port());
    let worker_env = [("ORATOR_HTTP_ADDR", worker_addr.as_str())];
    let (api, mut worker, stack) = watched(&env, &worker_env).await;

    worker.kill();
    worker.wait(Duration::from_secs(10)).await;
    webhook_saw(&api, &stack, "OratorTargetDown", "firing", Duration::from_secs(60)).await;

    let _back = env.worker(&worker_env).await;
    webhook_saw(&api, &stack, "OratorTargetDown", "resolved", Duration::from_secs(60)).await;
}

#[tokio::test]
async fn drill_redis_cut_fires_redis_down_and_resolves() {
    let env = TestEnv::new().await;
    let (api, _worker, stack) = watched(&env, &[]).await;
    // health_check_status is set whenever the checks run: in a deployment the readiness
    // probe runs them every few seconds; here this task plays the kubelet.
    let (http, ready) = (api.http.clone(), api.url("/health/ready"));
    let _probe = AbortOnDrop(tokio::spawn(async move {
        loop {
            let _ = http.get(&ready).send().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }));

    env.redis.cut();
    webhook_saw(&api, &stack, "OratorRedisDown", "firing", Duration::from_secs(60)).await;
    env.redis.restore();
    webhook_saw(&api, &stack, "OratorRedisDown", "resolved", Duration::from_secs(60)).await;
}

/// Aborts the task when the test ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test]
async fn with_a_metrics_token_only_a_scrape_that_sends_it_gets_metrics() {
    let env = TestEnv::new().await;
    let token = [("ORATOR_METRICS_TOKEN", "scrape-secret")];
    let api = env.api(&token).await;
    let worker = env.worker(&token).await;
    for url in [api.service.url(), worker.url()] {
        let anonymous = reqwest::get(format!("{url}/metrics")).await.unwrap();
        assert_eq!(anonymous.status(), 401, "{url}");
        let wrong = reqwest::Client::new()
            .get(format!("{url}/metrics"))
            .bearer_auth("scrape-guess")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{url}");
        // Health stays open: probes carry no credentials.
        assert_eq!(reqwest::get(format!("{url}/health/live")).await.unwrap().status(), 200);
    }
    let dir = std::env::temp_dir().join(format!("orator-scrape-auth-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let nowhere: SocketAddr = format!("127.0.0.1:{}", monitoring::free_port()).parse().unwrap();
    let targets = [
        ("orator-api", addr(&api.service.url()), Some("scrape-secret")),
        ("orator-worker", addr(&worker.url()), Some("scrape-secret")),
        ("anonymous", addr(&api.service.url()), None),
    ];
    let prometheus = monitoring::prometheus(&dir, &targets, nowhere).await;
    let up = eventually("every target scraped once", Duration::from_secs(30), || async {
        let result = monitoring::query(prometheus.addr, "up").await;
        (result.len() == 3).then_some(result)
    })
    .await;
    let value = |job: &str| {
        up.iter()
            .find(|r| r["metric"]["job"] == job)
            .map(|r| r["value"][1].as_str().unwrap().to_owned())
    };
    assert_eq!(value("orator-api").as_deref(), Some("1"), "{up:?}");
    assert_eq!(value("orator-worker").as_deref(), Some("1"), "{up:?}");
    assert_eq!(value("anonymous").as_deref(), Some("0"), "{up:?}");
}
