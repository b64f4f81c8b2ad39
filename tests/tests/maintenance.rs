//! Housekeeping in the worker: the sweeper rescues jobs left `running` by a worker that
//! vanished, and retention removes old audio, jobs and outbox rows in small batches.

use std::time::Duration;

use orator_e2e::{TestEnv, eventually};
use reqwest::Method;
use serde_json::{Value, json};

fn body(text: &str) -> Value {
    json!({"model": "tts-1", "input": text, "voice": "nova", "response_format": "wav"})
}

async fn metric(url: &str, series: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

async fn count_audio(env: &TestEnv) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audio")
        .fetch_one(&env.db().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_job_left_running_past_its_lease_is_requeued_or_failed_by_the_sweeper() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    // The broker is away while they are made, so no message of theirs is ever published.
    env.amqp.cut();
    // Two jobs whose worker died after claiming them and whose messages are gone (acked by
    // a worker that then could not record the outcome): nothing will redeliver them.
    let with_attempts_left = api.create_job(body("Rescued by the sweeper.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out_of_attempts = api.create_job(body("Given up by the sweeper.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let caller_gone = api.create_job(body("A sync job whose caller left.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let db = env.db().await;
    sqlx::query("UPDATE jobs SET mode = 'sync' WHERE id = $1::uuid")
        .bind(&caller_gone)
        .execute(&db)
        .await
        .unwrap();
    for (id, attempts) in [(&with_attempts_left, 1), (&out_of_attempts, 3), (&caller_gone, 1)] {
        sqlx::query(
            "UPDATE jobs SET status = 'running', attempts = $2, started_at = now() - interval '1 hour' WHERE id = $1::uuid",
        )
        .bind(id)
        .bind(attempts)
        .execute(&db)
        .await
        .unwrap();
    }
    // As if published and consumed long ago: only the sweeper can help them now.
    sqlx::query("UPDATE outbox SET published_at = now()")
        .execute(&db)
        .await
        .unwrap();
    env.amqp.restore();

    let worker = env
        .worker(&[
            ("ORATOR_JOB_LEASE_MS", "2000"),
            ("ORATOR_SWEEP_INTERVAL_MS", "200"),
            ("ORATOR_MAX_ATTEMPTS", "3"),
        ])
        .await;
    let done = api
        .wait_for_status(&with_attempts_left, "succeeded", Duration::from_secs(20))
        .await;
    assert_eq!(done["attempts"], 2, "the lost attempt and the one after the sweep");
    let failed = api
        .wait_for_status(&out_of_attempts, "failed", Duration::from_secs(20))
        .await;
    assert_eq!(failed["error"]["code"], "abandoned", "{failed}");
    // A sync job is not run again for a caller who has gone.
    let expired = api
        .wait_for_status(&caller_gone, "expired", Duration::from_secs(20))
        .await;
    assert_eq!(expired["error"]["code"], "expired", "{expired}");
    let url = worker.url();
    assert_eq!(metric(&url, "orator_jobs_swept_total{action=\"requeued\"}").await, 1.0);
    assert_eq!(metric(&url, "orator_jobs_swept_total{action=\"failed\"}").await, 1.0);
    assert_eq!(metric(&url, "orator_jobs_swept_total{action=\"expired\"}").await, 1.0);
    assert_eq!(count_audio(&env).await, 1, "only the requeued job was synthesised");
    assert!(
        metric(
            &url,
            "orator_maintenance_last_success_timestamp_seconds{task=\"sweeper\"}"
        )
        .await
            > 1.7e9
    );
    assert!(worker.logged("swept jobs abandoned while running"));
}

#[tokio::test]
async fn retention_removes_old_audio_then_old_jobs_and_published_outbox_rows() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env
        .worker(&[
            ("ORATOR_AUDIO_RETENTION_HOURS", "0"),
            ("ORATOR_JOB_RETENTION_HOURS", "1"),
            ("ORATOR_OUTBOX_RETENTION_HOURS", "0"),
            ("ORATOR_RETENTION_INTERVAL_MS", "200"),
        ])
        .await;
    let id = api.create_job(body("Kept for a moment.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&id, "succeeded", Duration::from_secs(20)).await;
    let db = env.db().await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&db).await.unwrap() }
    };
    eventually("audio and outbox reaped", Duration::from_secs(10), || async {
        (count("SELECT count(*) FROM audio").await == 0 && count("SELECT count(*) FROM outbox").await == 0)
            .then_some(())
    })
    .await;
    // The job stays, says it succeeded, and tells the caller its audio is gone.
    assert_eq!(api.job(&id).await["status"], "succeeded");
    let gone = api
        .request(Method::GET, &format!("/v1/jobs/{id}/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 410);
    assert_eq!(gone.json::<Value>().await.unwrap()["error"]["code"], "audio_expired");

    // Older than the job retention: the job goes too; a recent one stays.
    let recent = api.create_job(body("Finished just now.")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.wait_for_status(&recent, "succeeded", Duration::from_secs(20)).await;
    sqlx::query("UPDATE jobs SET finished_at = now() - interval '2 hours' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&db)
        .await
        .unwrap();
    let status = |id: String| {
        let request = api.request(Method::GET, &format!("/v1/jobs/{id}"));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    eventually("the old job reaped", Duration::from_secs(10), || async {
        (status(id.clone()).await == 404).then_some(())
    })
    .await;
    assert_eq!(status(recent).await, 200, "a job inside its retention is kept");
    let url = worker.url();
    assert!(metric(&url, "orator_retention_deleted_total{table=\"audio\"}").await >= 1.0);
    assert!(metric(&url, "orator_retention_deleted_total{table=\"jobs\"}").await >= 1.0);
    assert!(metric(&url, "orator_retention_deleted_total{table=\"outbox\"}").await >= 1.0);
}
