//! The fault matrix (docs/reliability.md): one test per row, real servers, faults only
//! through the proxies. Each asserts that nothing accepted is lost (every job ends in its
//! documented terminal state), nothing is synthesised twice (one audio row per content),
//! errors are bounded (no 500, every answer within its deadline), the expected metric
//! moves, and prints the recovery time it measured.

use std::time::{Duration, Instant};

use orator_e2e::{Api, TestEnv, eventually, metric};
use reqwest::Method;
use serde_json::{Value, json};

fn body(text: &str) -> Value {
    json!({"model": "tts-1", "input": text, "voice": "shimmer", "response_format": "wav"})
}

async fn count(env: &TestEnv, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&env.db().await).await.unwrap()
}

/// Every job has ended; no content was synthesised twice.
async fn settled_once(env: &TestEnv, within: Duration) {
    eventually("every job to end", within, || async {
        (count(env, "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").await == 0).then_some(())
    })
    .await;
    assert_eq!(
        count(env, "SELECT count(*) FROM audio").await,
        count(
            env,
            "SELECT count(DISTINCT cache_key) FROM jobs WHERE status = 'succeeded'"
        )
        .await,
        "one audio row per content"
    );
}

/// One request and how it ended.
struct Answer {
    status: u16,
    took: Duration,
    job: Option<String>,
}

async fn send(api: &Api, path: &str, body: Value) -> Answer {
    let start = Instant::now();
    let r = api.request(Method::POST, path).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let job = if status == 202 {
        r.json::<Value>()
            .await
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
    } else {
        None
    };
    Answer {
        status,
        took: start.elapsed(),
        job,
    }
}

/// Time until a fresh sync request succeeds again.
async fn recovery(api: &Api, tag: &str) -> Duration {
    let start = Instant::now();
    for i in 0.. {
        let r = api.speech(body(&format!("Recovered {tag} {i}."))).await;
        if r.status() == 200 {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no recovery within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    unreachable!()
}

#[tokio::test]
async fn postgresql_stalled_for_10_s_bounds_every_answer_and_loses_no_accepted_job() {
    let env = TestEnv::new().await;
    let tight = [
        ("ORATOR_SYNC_TIMEOUT_MS", "3000"),
        ("ORATOR_DB_STATEMENT_TIMEOUT_MS", "2000"),
    ];
    let api = env.api(&tight).await;
    let _worker = env.worker(&tight[1..]).await;
    let before = api.speech(body("Before the stall.")).await;
    assert_eq!(before.status(), 200);
    // The whole answer: its end comes once the job is stored.
    before.bytes().await.unwrap();

    env.pg.stall();
    let load = async {
        let mut answers = Vec::new();
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_secs(10) {
            let (sync, job) = tokio::join!(
                send(&api, "/v1/audio/speech", body(&format!("Sync while stalled {i}."))),
                send(&api, "/v1/jobs", body(&format!("Async while stalled {i}."))),
            );
            answers.extend([sync, job]);
            i += 1;
        }
        answers
    };
    let answers = load.await;
    env.pg.restore();
    let recovered = recovery(&api, "postgresql").await;
    println!("postgresql stall: recovery {recovered:?}, {} answers", answers.len());

    for a in &answers {
        assert!(
            [200, 202, 503, 504].contains(&a.status),
            "status {} during the stall",
            a.status
        );
        // Auth lookup and the statement each wait at most the 3 s client bound.
        assert!(a.took < Duration::from_secs(8), "an answer took {:?}", a.took);
    }
    assert!(
        answers.iter().any(|a| a.status == 503),
        "storage_unavailable was answered"
    );
    let accepted: Vec<&String> = answers.iter().filter_map(|a| a.job.as_ref()).collect();
    for id in &accepted {
        api.wait_for_status(id, "succeeded", Duration::from_secs(30)).await;
    }
    settled_once(&env, Duration::from_secs(30)).await;
    // Sync jobs created just before the stall may end expired: their callers had gone.
    assert_eq!(
        count(
            &env,
            "SELECT count(*) FROM jobs WHERE status NOT IN ('succeeded', 'expired')"
        )
        .await,
        0
    );
    let errors = metric(
        &api.service.url(),
        "db_client_operation_duration_seconds_count",
        &["error_type=\"error\""],
    )
    .await;
    assert!(errors > 0.0, "database errors were counted");
    assert!(recovered < Duration::from_secs(15), "recovery took {recovered:?}");
}

#[tokio::test]
async fn rabbitmq_stalled_for_30_s_delays_jobs_and_loses_none() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env.worker(&[]).await;
    let first = api.create_job(body("Before the broker stalls.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&first, "succeeded", Duration::from_secs(20)).await;

    env.amqp.stall();
    let stalled = Instant::now();
    let mut ids = Vec::new();
    for i in 0..20 {
        let a = send(
            &api,
            "/v1/jobs",
            body(&format!("Queued while the broker is stalled {i}.")),
        )
        .await;
        assert_eq!(a.status, 202, "jobs are accepted into the outbox");
        assert!(a.took < Duration::from_secs(2), "accepting took {:?}", a.took);
        ids.push(a.job.unwrap());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Health answers within its timeout although the broker does not.
    let start = Instant::now();
    let health = api.http.get(api.url("/health")).send().await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "health took {:?}",
        start.elapsed()
    );
    let health: Value = health.json().await.unwrap();
    let rabbitmq = health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rabbitmq")
        .cloned();
    assert_ne!(
        rabbitmq.as_ref().map(|c| &c["status"]),
        Some(&json!("pass")),
        "{health}"
    );
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(stalled.elapsed())).await;
    env.amqp.restore();
    let restored = Instant::now();
    for id in &ids {
        api.wait_for_status(id, "succeeded", Duration::from_secs(60)).await;
    }
    let recovered = restored.elapsed();
    println!("rabbitmq stall: all 20 jobs done {recovered:?} after the restore");
    settled_once(&env, Duration::from_secs(10)).await;
    assert_eq!(
        count(&env, "SELECT count(*) FROM outbox WHERE published_at IS NULL").await,
        0
    );
    let failed = metric(
        &api.service.url(),
        "messaging_client_sent_messages_total",
        &["result=\"failed\""],
    )
    .await;
    let timeouts = api.service.logs().iter().filter(|l| l.contains("timed out")).count();
    assert!(failed > 0.0 || timeouts > 0, "the stalled publishes were seen");
    assert!(recovered < Duration::from_secs(45), "recovery took {recovered:?}");
    drop(worker);
}

#[tokio::test]
async fn redis_stalled_keeps_hits_served_without_synthesising_again() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_HOT_CACHE_BYTES", "0")]).await;
    let _worker = env.worker(&[]).await;
    let texts: Vec<String> = (0..5).map(|i| format!("Cached before the stall {i}.")).collect();
    for t in &texts {
        let r = api.speech(body(t)).await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert_eq!(api.speech(body(&texts[0])).await.headers()["x-orator-cache"], "hit");

    env.redis.stall();
    let mut answers = Vec::new();
    for round in 0..6 {
        for t in &texts {
            let start = Instant::now();
            let r = api.speech(body(t)).await;
            let retry_after = r.headers().contains_key("retry-after");
            answers.push((r.status().as_u16(), start.elapsed(), round, retry_after));
        }
    }
    // Until the breaker has seen its five failures, a timed-out Redis call looks like a
    // saturated one and the request is shed (503 + Retry-After); then Redis is bypassed.
    let shed = answers.iter().filter(|a| a.0 == 503).count();
    assert!(shed <= 5, "{shed} requests shed");
    for (status, took, round, retry_after) in &answers {
        assert!(
            *status == 200 || (*status == 503 && *retry_after),
            "round {round}: {status}"
        );
        assert!(*took < Duration::from_secs(3), "an answer took {took:?}");
    }
    assert!(
        answers[answers.len() - 10..].iter().all(|a| a.0 == 200),
        "served once the breaker opened"
    );
    let open = metric(&api.service.url(), "orator_cache_breaker_open", &[]).await;
    assert_eq!(open, 1.0, "the breaker opened");
    // The audio already existed: workers linked it instead of synthesising again.
    assert_eq!(count(&env, "SELECT count(*) FROM audio").await, 5);

    env.redis.restore();
    let restored = Instant::now();
    eventually("hits from Redis again", Duration::from_secs(20), || async {
        let r = api.speech(body(&texts[1])).await;
        (r.headers()["x-orator-cache"] == "hit").then_some(())
    })
    .await;
    println!("redis stall: hits again {:?} after the restore", restored.elapsed());
    settled_once(&env, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn workers_killed_twice_with_50_jobs_in_flight_finish_each_once_and_cap_attempts() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let slow = env.espeak_wrapper("slow-espeak", "sleep 3");
    let busy = [
        ("ORATOR_ESPEAK_BINARY", slow.as_str()),
        ("ORATOR_PREFETCH", "50"),
        ("ORATOR_ENGINE_CONCURRENCY", "50"),
        ("ORATOR_MAX_ATTEMPTS", "2"),
    ];
    let first = env.worker(&busy).await;
    let ids: Vec<String> = futures::future::join_all((0..50).map(|i| api.create_job(body(&format!("In flight {i}.")))))
        .await
        .into_iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    let running = || async { count(&env, "SELECT count(*) FROM jobs WHERE status = 'running'").await };
    eventually("jobs in flight", Duration::from_secs(20), || async {
        (running().await >= 40).then_some(())
    })
    .await;
    first.kill();
    let second = env.worker(&busy).await;
    eventually("jobs in flight again", Duration::from_secs(20), || async {
        (count(
            &env,
            "SELECT count(*) FROM jobs WHERE status = 'running' AND attempts = 2",
        )
        .await
            >= 30)
            .then_some(())
    })
    .await;
    second.kill();
    let killed_twice = count(&env, "SELECT count(*) FROM jobs WHERE attempts = 2").await;
    let finisher = env
        .worker(&[("ORATOR_MAX_ATTEMPTS", "2"), ("ORATOR_PREFETCH", "50")])
        .await;
    let restarted = Instant::now();
    settled_once(&env, Duration::from_secs(60)).await;
    println!(
        "worker kills: all 50 ended {:?} after the third worker started",
        restarted.elapsed()
    );
    let mut failed = 0;
    for id in &ids {
        let job = api.job(id).await;
        match job["status"].as_str().unwrap() {
            "succeeded" => {}
            "failed" => {
                assert_eq!(job["error"]["code"], "attempts_exhausted", "{job}");
                failed += 1;
            }
            other => panic!("job ended {other}: {job}"),
        }
    }
    // Claimed twice and killed twice: past the cap of two, never synthesised a third time.
    assert_eq!(failed, killed_twice, "exactly the twice-killed jobs hit the cap");
    assert!(failed > 0);
    assert_eq!(count(&env, "SELECT count(*) FROM audio").await, 50 - failed);
    let exhausted = metric(
        &finisher.url(),
        "orator_messages_dead_lettered_total",
        &["reason=\"exhausted\""],
    )
    .await;
    assert_eq!(exhausted, failed as f64);
}

#[tokio::test]
async fn duplicate_deliveries_and_racing_workers_synthesise_each_job_once() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let slow = env.espeak_wrapper("slowish-espeak", "sleep 1");
    let a = env.worker(&[("ORATOR_ESPEAK_BINARY", slow.as_str())]).await;
    let b = env.worker(&[("ORATOR_ESPEAK_BINARY", slow.as_str())]).await;
    let ids: Vec<String> = futures::future::join_all((0..10).map(|i| api.create_job(body(&format!("Raced {i}.")))))
        .await
        .into_iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    // Each message a second time while the first copy is still being worked on, and once
    // more after the jobs finished: the copies reach either worker.
    for id in &ids {
        env.publish_raw("", json!({"job_id": id}).to_string().as_bytes()).await;
    }
    for id in &ids {
        api.wait_for_status(id, "succeeded", Duration::from_secs(30)).await;
    }
    for id in &ids {
        env.publish_raw("", json!({"job_id": id}).to_string().as_bytes()).await;
    }
    eventually("the duplicates to be consumed", Duration::from_secs(20), || async {
        (env.queue_depth("").await == 0).then_some(())
    })
    .await;
    settled_once(&env, Duration::from_secs(10)).await;
    assert_eq!(count(&env, "SELECT count(*) FROM audio").await, 10);
    assert_eq!(
        count(&env, "SELECT max(attempts)::bigint FROM jobs").await,
        1,
        "no job started twice"
    );
    let skipped = metric(&a.url(), "orator_jobs_processed_total", &["outcome=\"skipped\""]).await
        + metric(&b.url(), "orator_jobs_processed_total", &["outcome=\"skipped\""]).await;
    eventually(
        "every duplicate counted as skipped",
        Duration::from_secs(10),
        || async {
            let skipped = metric(&a.url(), "orator_jobs_processed_total", &["outcome=\"skipped\""]).await
                + metric(&b.url(), "orator_jobs_processed_total", &["outcome=\"skipped\""]).await;
            (skipped >= 20.0).then_some(())
        },
    )
    .await;
    assert!(skipped <= 20.0);
}

#[tokio::test]
async fn the_completion_listener_cut_during_sync_waits_still_answers_every_waiter() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_SYNC_TIMEOUT_MS", "20000")]).await;
    let slow = env.espeak_wrapper("slow-espeak", "sleep 2");
    let _worker = env.worker(&[("ORATOR_ESPEAK_BINARY", slow.as_str())]).await;
    let waits =
        futures::future::join_all((0..5).map(|i| send(&api, "/v1/audio/speech", body(&format!("Waiting {i}.")))));
    let cut = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        env.pg.cut();
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.pg.restore();
    };
    let (answers, ()) = tokio::join!(waits, cut);
    for a in &answers {
        assert_eq!(a.status, 200, "a waiter answered {} after {:?}", a.status, a.took);
    }
    assert!(api.service.logged("job completion listener lost its connection"));
    settled_once(&env, Duration::from_secs(20)).await;
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_the_worker_goes_on() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env.worker(&[]).await;
    eventually("the worker to consume", Duration::from_secs(20), || async {
        worker.logged("\"consuming\"").then_some(())
    })
    .await;
    env.publish_raw("", b"{not json").await;
    env.publish_raw("", br#"{"job_id": "not-a-uuid"}"#).await;
    eventually("both in the dead-letter queue", Duration::from_secs(20), || async {
        (env.queue_depth(".dead").await == 2).then_some(())
    })
    .await;
    let unreadable = metric(
        &worker.url(),
        "orator_messages_dead_lettered_total",
        &["reason=\"unreadable\""],
    )
    .await;
    assert_eq!(unreadable, 2.0);
    let id = api.create_job(body("After the poison.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&id, "succeeded", Duration::from_secs(20)).await;
    settled_once(&env, Duration::from_secs(10)).await;
}
