//! Faults: workers killed or stopped mid-job, brokers and caches cut away, failing engines.
//! Nothing is lost and nothing is synthesised twice.

use std::time::{Duration, Instant};

use orator_e2e::{TestEnv, eventually};
use reqwest::Method;
use serde_json::{Value, json};

fn body(text: &str) -> Value {
    json!({"model": "tts-1", "input": text, "voice": "onyx", "response_format": "wav"})
}

async fn count(env: &TestEnv, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.db().await).await.unwrap()
}

#[tokio::test]
async fn a_worker_killed_mid_job_leaves_it_to_the_next_which_completes_it_once() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let slow = env.espeak_wrapper("slow-espeak", "sleep 30");
    let doomed = env.worker(&[("ORATOR_ESPEAK_BINARY", &slow)]).await;

    let id = api.create_job(body("Interrupted, then finished.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&id, "running", Duration::from_secs(20)).await;
    doomed.kill();

    let _rescuer = env.worker(&[]).await;
    let done = api.wait_for_status(&id, "succeeded", Duration::from_secs(30)).await;
    assert_eq!(done["attempts"], 2, "the killed attempt and the finishing one");
    assert_eq!(
        count(&env, "SELECT count(*) FROM audio").await,
        1,
        "synthesised and stored exactly once"
    );
    // The message was acknowledged: nothing left to redeliver.
    eventually("the queue to drain", Duration::from_secs(10), || async {
        (env.queue_depth("").await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn jobs_accepted_while_rabbitmq_is_unreachable_complete_when_it_returns() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env.worker(&[]).await;

    env.amqp.cut();
    let ids: Vec<String> =
        futures::future::join_all((0..3).map(|i| api.create_job(body(&format!("Outbox number {i}")))))
            .await
            .into_iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        count(&env, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await,
        3,
        "rows wait in the outbox"
    );
    for id in &ids {
        assert_eq!(api.job(id).await["status"], "queued");
    }
    // The api stays ready (degraded) while the broker is away: it can still accept work.
    let health: Value = orator_e2e::json(api.http.get(api.url("/health"))).await;
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        api.http.get(api.url("/health/ready")).send().await.unwrap().status(),
        200
    );
    // The worker cannot work without the broker: not ready.
    let worker_ready = api
        .http
        .get(format!("{}/health/ready", worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(worker_ready.status(), 503);

    env.amqp.restore();
    for id in &ids {
        api.wait_for_status(id, "succeeded", Duration::from_secs(40)).await;
    }
    assert_eq!(
        count(&env, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await,
        0
    );
    assert_eq!(count(&env, "SELECT count(*) FROM audio").await, 3);
}

#[tokio::test]
async fn with_redis_unreachable_speech_is_still_served() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    env.redis.cut();

    // The repeat is answered by the api's in-process cache, which needs no Redis.
    for (text, source) in [
        ("Cache is down.", "miss"),
        ("Cache is down.", "hit"),
        ("Still down.", "miss"),
    ] {
        let r = api.speech(body(text)).await;
        assert_eq!(r.status(), 200, "speech must not fail with the cache gone");
        assert_eq!(r.headers()["x-orator-cache"], source, "{text}");
        assert!(r.bytes().await.unwrap().len() > 1000);
    }
    let health = api.http.get(api.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    let redis = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "redis")
        .unwrap();
    assert_eq!(redis["status"], "degraded");

    env.redis.restore();
    let warm = api.speech(body("Cache is back.")).await;
    assert_eq!(warm.status(), 200);
    let hit = eventually("the cache to serve again", Duration::from_secs(10), || async {
        let r = api.speech(body("Cache is back.")).await;
        (r.headers()["x-orator-cache"] == "hit").then_some(())
    });
    hit.await;
}

#[tokio::test]
async fn sigterm_lets_in_flight_jobs_finish_and_returns_the_rest() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let slow = env.espeak_wrapper("slow-espeak", "sleep 2");
    let mut stopping = env
        .worker(&[
            ("ORATOR_ESPEAK_BINARY", &slow),
            ("ORATOR_PREFETCH", "2"),
            ("ORATOR_ENGINE_CONCURRENCY", "2"),
            ("ORATOR_SHUTDOWN_GRACE_MS", "15000"),
        ])
        .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            api.create_job(body(&format!("Graceful number {i}"))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let running = eventually("two jobs to be running", Duration::from_secs(20), || async {
        let db = env.db().await;
        let running: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM jobs WHERE status = 'running'")
            .fetch_all(&db)
            .await
            .unwrap();
        (running.len() == 2).then_some(running)
    })
    .await;

    stopping.terminate();
    let status = stopping.wait(Duration::from_secs(20)).await;
    assert!(status.success(), "graceful exit, got {status}");
    assert!(stopping.logged("draining"));
    for id in &running {
        assert_eq!(
            api.job(&id.to_string()).await["status"],
            "succeeded",
            "in-flight job {id} was finished before exit"
        );
    }

    let _next = env.worker(&[]).await;
    for id in &ids {
        api.wait_for_status(id, "succeeded", Duration::from_secs(30)).await;
    }
    assert_eq!(
        count(&env, "SELECT count(*) FROM audio").await,
        5,
        "every job exactly once"
    );
    assert_eq!(
        count(&env, "SELECT max(attempts)::bigint FROM jobs").await,
        1,
        "no job ran twice"
    );
}

#[tokio::test]
async fn a_failing_job_is_retried_with_delay_then_dead_lettered_and_marked_failed() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let broken = env.espeak_wrapper("broken-espeak", "echo 'voice data missing' >&2; exit 3");
    let worker = env
        .worker(&[
            ("ORATOR_ESPEAK_BINARY", &broken),
            ("ORATOR_MAX_ATTEMPTS", "3"),
            ("ORATOR_RETRY_BASE_MS", "200"),
        ])
        .await;
    let started = Instant::now();
    let id = api.create_job(body("This will not work.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let failed = api.wait_for_status(&id, "failed", Duration::from_secs(30)).await;
    // Two retries wait 200 ms and 400 ms in the delay queue.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "retries did not wait: {:?}",
        started.elapsed()
    );
    assert_eq!(failed["attempts"], 3);
    // The caller gets a stable code and a safe message; what the engine said is logged.
    assert_eq!(failed["error"]["code"], "engine_failed", "{failed}");
    assert!(
        !failed["error"]["message"].as_str().unwrap().contains("voice data"),
        "{failed}"
    );
    assert!(worker.logged("voice data missing"));
    assert_eq!(env.queue_depth(".dead").await, 1);
    assert_eq!(env.queue_depth("").await, 0);
    assert_eq!(env.queue_depth(".retry").await, 0);
    assert_eq!(worker.logs().iter().filter(|l| l.contains("retrying later")).count(), 2);

    // A sync request for failing speech answers 500 with the reason, not a hang.
    let sync = api.speech(body("Neither will this.")).await;
    assert_eq!(sync.status(), 500);
    let error: Value = sync.json().await.unwrap();
    assert_eq!(error["error"]["code"], "engine_failed");
    assert!(
        !error["error"]["message"].as_str().unwrap().contains("voice data"),
        "{error}"
    );
}

#[tokio::test]
async fn sync_speech_past_its_deadline_answers_504_and_a_late_worker_does_not_synthesise_it() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_SYNC_TIMEOUT_MS", "500")]).await;
    let started = Instant::now();
    let r = api.speech(body("Nobody is listening yet.")).await;
    assert_eq!(r.status(), 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    let error: Value = r.json().await.unwrap();
    assert_eq!(error["error"]["type"], "timeout_error");

    // The caller has gone: a worker arriving later ends the job without spending the
    // engine's time on it.
    let worker = env.worker(&[]).await;
    eventually("the late job to expire", Duration::from_secs(20), || async {
        (count(&env, "SELECT count(*) FROM jobs WHERE status = 'expired'").await == 1).then_some(())
    })
    .await;
    assert_eq!(
        count(&env, "SELECT count(*) FROM audio").await,
        0,
        "nothing was synthesised"
    );
    let metrics = api
        .http
        .get(format!("{}/metrics", worker.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"orator_jobs_processed_total{outcome="expired"} 1"#),
        "{metrics}"
    );
    // Asked again with a worker present, it is synthesised and answered.
    let r = api.speech(body("Nobody is listening yet.")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-orator-cache"], "miss");
}

#[tokio::test]
async fn without_postgresql_the_api_is_not_ready_within_its_timeout() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env.worker(&[]).await;
    assert_eq!(
        api.http.get(api.url("/health/ready")).send().await.unwrap().status(),
        200
    );

    env.pg.cut();
    for url in [api.url("/health/ready"), format!("{}/health/ready", worker.url())] {
        let started = Instant::now();
        let r = api.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 503, "{url}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{url} took {:?}",
            started.elapsed()
        );
    }
    // Liveness does not depend on anything.
    assert_eq!(
        api.http.get(api.url("/health/live")).send().await.unwrap().status(),
        200
    );

    env.pg.restore();
    eventually("the api to be ready again", Duration::from_secs(15), || async {
        (api.http.get(api.url("/health/ready")).send().await.unwrap().status() == 200).then_some(())
    })
    .await;
    let r = api.request(Method::GET, "/v1/models").send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn audio_past_the_duration_cap_fails_at_once_with_a_clear_code() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env
        .worker(&[("ORATOR_MAX_AUDIO_SECONDS", "2"), ("ORATOR_MAX_ATTEMPTS", "3")])
        .await;
    let long = "This sentence is read again and again until it is far too long. ".repeat(8);
    let id = api.create_job(body(&long)).await["id"].as_str().unwrap().to_owned();
    let failed = api.wait_for_status(&id, "failed", Duration::from_secs(20)).await;
    assert_eq!(failed["error"]["code"], "audio_too_long", "{failed}");
    assert_eq!(failed["attempts"], 1, "not retried: the input is the cause");
    assert_eq!(count(&env, "SELECT count(*) FROM audio").await, 0);
    assert!(!worker.logged("retrying later"));

    // A sync caller whose first sentence is past the cap is told it is their input: 422
    // naming input, not a 500.
    let sync = api.speech(body(&long)).await;
    assert_eq!(sync.status(), 422);
    let error: Value = sync.json().await.unwrap();
    assert_eq!(error["error"]["code"], "audio_too_long");
    assert_eq!(error["error"]["param"], "input");
    // One that passes it later has heard its first sentence: the status went out with it,
    // so the body is cut short (never a complete-looking file) and the job says why.
    let streamed = api.speech(body(&format!("Once more. {long}"))).await;
    assert_eq!(streamed.status(), 200);
    assert!(streamed.bytes().await.is_err(), "the body is cut short");
    let jobs = orator_e2e::json(api.request(reqwest::Method::GET, "/v1/jobs")).await;
    assert_eq!(jobs["data"][0]["error"]["code"], "audio_too_long", "{jobs}");

    // Short speech still works.
    assert_eq!(api.speech(body("Short.")).await.status(), 200);
}

#[tokio::test]
async fn a_worker_started_before_its_database_exists_waits_not_ready_then_serves() {
    let env = TestEnv::new().await;
    // No api yet: the database does not exist.
    let worker = env.worker(&[]).await;
    let ready = || async {
        reqwest::get(format!("{}/health/ready", worker.url()))
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 503);
    eventually(
        "the worker to say what it waits for",
        Duration::from_secs(10),
        || async { worker.logged("waiting for the database").then_some(()) },
    )
    .await;
    let api = env.api(&[]).await; // creates and migrates the database
    eventually("the worker to become ready", Duration::from_secs(20), || async {
        (ready().await == 200).then_some(())
    })
    .await;
    let id = api.create_job(body("Started in the wrong order.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&id, "succeeded", Duration::from_secs(20)).await;
}
