//! Async jobs: create, poll, fetch audio, idempotency, cancel, delete, list.

use std::time::Duration;

use orator_e2e::{TestEnv, audio};
use reqwest::Method;
use serde_json::{Value, json};

fn body(text: &str) -> Value {
    json!({"model": "tts-1", "input": text, "voice": "fable", "response_format": "flac"})
}

#[tokio::test]
async fn a_job_runs_and_its_audio_can_be_fetched() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;

    let response = api
        .request(Method::POST, "/v1/jobs")
        .json(&body("An asynchronous job."))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/jobs/{}", job["id"].as_str().unwrap()));
    assert!(["queued", "running", "succeeded"].contains(&job["status"].as_str().unwrap()));

    let id = job["id"].as_str().unwrap();
    let done = api.wait_for_status(id, "succeeded", Duration::from_secs(20)).await;
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["input_characters"], 20);
    let audio_url = done["audio_url"].as_str().unwrap();
    let r = api.request(Method::GET, audio_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/flac");
    let decoded = audio::decode("flac", &r.bytes().await.unwrap(), 0);
    assert!(decoded.duration() > 0.5 && decoded.rms() > 0.01);

    // Someone else's key sees nothing.
    let stranger = api
        .http
        .get(api.url(&format!("/v1/jobs/{id}")))
        .bearer_auth(other_key(&env).await)
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 404);
}

/// A second key, inserted straight into the database (hashed by PostgreSQL itself, so the
/// test does not reuse the service's code).
async fn other_key(env: &TestEnv) -> String {
    let db = env.db().await;
    let key = format!("ork_other_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(
        "INSERT INTO api_keys (id, name, key_hash, key_prefix) VALUES ($1, 'other', sha256(convert_to($2, 'UTF8')), 'ork_othe')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(&key)
    .execute(&db)
    .await
    .unwrap();
    key
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_job() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let post = |key: &'static str, text: &'static str| {
        api.request(Method::POST, "/v1/jobs")
            .header("Idempotency-Key", key)
            .json(&body(text))
            .send()
    };
    let first = post("order-42", "Say this once.").await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = post("order-42", "Say this once.").await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let other: Value = post("order-43", "Say this once.").await.unwrap().json().await.unwrap();
    assert_ne!(first["id"], other["id"]);

    let db = env.db().await;
    let (jobs, outbox): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM outbox)")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!((jobs, outbox), (2, 2), "a replay must not create a job or a message");

    // The same key from another caller is another job.
    let stranger = api
        .http
        .post(api.url("/v1/jobs"))
        .bearer_auth(other_key(&env).await)
        .header("Idempotency-Key", "order-42")
        .json(&body("Say this once."))
        .send()
        .await
        .unwrap();
    let stranger: Value = stranger.json().await.unwrap();
    assert_ne!(stranger["id"], first["id"]);
}

#[tokio::test]
async fn a_queued_job_can_be_canceled_and_is_then_never_synthesised() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    // No worker yet: the job stays queued.
    let job = api.create_job(body("Never mind.")).await;
    let id = job["id"].as_str().unwrap();
    let canceled = api
        .request(Method::POST, &format!("/v1/jobs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(canceled.status(), 200);
    assert_eq!(canceled.json::<Value>().await.unwrap()["status"], "canceled");

    let twice = api
        .request(Method::POST, &format!("/v1/jobs/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 409);
    assert_eq!(
        twice.json::<Value>().await.unwrap()["error"]["code"],
        "job_not_cancelable"
    );
    let audio = api
        .request(Method::GET, &format!("/v1/jobs/{id}/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 409);

    // The message is still on the queue; the worker must drop it without synthesis.
    let worker = env.worker(&[]).await;
    orator_e2e::eventually(
        "the canceled job's message to be consumed",
        Duration::from_secs(20),
        || async { (env.queue_depth("").await == 0 && worker.logged("job already ended")).then_some(()) },
    )
    .await;
    assert_eq!(api.job(id).await["status"], "canceled");
    let db = env.db().await;
    let audio_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audio")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(audio_rows, 0);

    let missing = api
        .request(Method::POST, &format!("/v1/jobs/{}/cancel", uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let not_uuid = api.request(Method::GET, "/v1/jobs/not-a-uuid").send().await.unwrap();
    assert_eq!(not_uuid.status(), 404);
}

#[tokio::test]
async fn listing_pages_through_the_callers_own_jobs() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            api.create_job(body(&format!("Job number {i}"))).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.reverse(); // newest first
    let mut seen = Vec::new();
    let mut path = "/v1/jobs?limit=2".to_owned();
    loop {
        let page: Value = orator_e2e::json(api.request(Method::GET, &path)).await;
        assert_eq!(page["object"], "list");
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned()),
        );
        if page["has_more"] == false {
            assert!(page["next_cursor"].is_null());
            break;
        }
        path = format!("/v1/jobs?limit=2&after={}", page["next_cursor"].as_str().unwrap());
    }
    assert_eq!(seen, ids);

    let stranger: Value = orator_e2e::json(api.http.get(api.url("/v1/jobs")).bearer_auth(other_key(&env).await)).await;
    assert_eq!(stranger["data"].as_array().unwrap().len(), 0);

    let bad = api.request(Method::GET, "/v1/jobs?limit=0").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"]["param"], "limit");
    // Values that do not even parse get the same JSON error shape, not plain text.
    for query in ["limit=many", "after=not-a-job-id"] {
        let bad = api
            .request(Method::GET, &format!("/v1/jobs?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400, "{query}");
        let error: Value = bad.json().await.expect("a JSON body");
        assert_eq!(error["error"]["type"], "invalid_request_error", "{query}");
        assert_eq!(error["error"]["code"], "invalid_query", "{query}");
    }
}

#[tokio::test]
async fn deleting_a_job_removes_it_its_audio_and_its_cached_copy() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_HOT_CACHE_BYTES", "0")]).await;
    let _worker = env.worker(&[]).await;
    let text = "Forget what I said.";
    let id = api.create_job(body(text)).await["id"].as_str().unwrap().to_owned();
    api.wait_for_status(&id, "succeeded", Duration::from_secs(20)).await;
    // The same speech, sync, is now a cache hit.
    let hit = api.speech(body(text)).await;
    assert_eq!(hit.headers()["x-orator-cache"], "hit");
    let db = env.db().await;
    let rows = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
    };
    assert_eq!(rows("SELECT count(*) FROM audio").await, 1);

    let deleted = api
        .request(Method::DELETE, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "speech.job.deleted", "deleted": true})
    );

    assert_eq!(
        api.request(Method::GET, &format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        api.request(Method::GET, &format!("/v1/jobs/{id}/audio"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(rows("SELECT count(*) FROM jobs WHERE mode = 'async'").await, 0);
    assert_eq!(
        rows("SELECT count(*) FROM jobs WHERE mode = 'sync'").await,
        0,
        "the hit made no job"
    );
    // The sync request's job still links the audio, so the bytes stay for it; the cache
    // entry is gone all the same and the next request synthesises again.
    let again = api.speech(body(text)).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["x-orator-cache"], "miss");

    let twice = api
        .request(Method::DELETE, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), 404);
}

#[tokio::test]
async fn deleting_a_queued_job_removes_its_outbox_row_and_the_audio_goes_with_the_last_job() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    // No worker: the job stays queued.
    let id = api.create_job(body("Withdrawn before it ran.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = env.db().await;
    let deleted = api
        .request(Method::DELETE, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(outbox, 0);

    // A finished job that alone holds its audio takes the audio with it.
    let _worker = env.worker(&[]).await;
    let id = api.create_job(body("Mine alone.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&id, "succeeded", Duration::from_secs(20)).await;
    let audio: i64 = sqlx::query_scalar("SELECT count(*) FROM audio")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(audio, 1);
    api.request(Method::DELETE, &format!("/v1/jobs/{id}"))
        .send()
        .await
        .unwrap();
    let audio: i64 = sqlx::query_scalar("SELECT count(*) FROM audio")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(audio, 0);
}

#[tokio::test]
async fn an_idempotency_key_reused_for_another_body_is_refused_and_concurrent_uses_make_one_job() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let send = |text: &'static str, key: &'static str| {
        api.request(Method::POST, "/v1/jobs")
            .header("Idempotency-Key", key)
            .json(&body(text))
            .send()
    };
    let first = send("One body.", "k-1").await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let other = send("Another body.", "k-1").await.unwrap();
    assert_eq!(other.status(), 422);
    let error: Value = other.json().await.unwrap();
    assert_eq!(error["error"]["code"], "idempotency_key_reused");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap())
    );
    // Another voice is another request too.
    let voice = api
        .request(Method::POST, "/v1/jobs")
        .header("Idempotency-Key", "k-1")
        .json(&json!({"model": "tts-1", "input": "One body.", "voice": "nova", "response_format": "flac"}))
        .send()
        .await
        .unwrap();
    assert_eq!(voice.status(), 422);

    let racing = futures::future::join_all((0..8).map(|_| send("Raced.", "k-race"))).await;
    let mut ids = std::collections::HashSet::new();
    for r in racing {
        let r = r.unwrap();
        assert_eq!(r.status(), 202);
        ids.insert(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "one job for one key: {ids:?}");
}
