//! Speech end to end: real audio in every format, the cache, the OpenAI SDK.

use std::time::Duration;

use orator_e2e::{TestEnv, audio};
use serde_json::json;

const TEXT: &str = "Orator turns text into speech, and proves every signal on the way.";

#[tokio::test]
async fn every_format_is_real_decodable_audio() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;

    let mut durations = Vec::new();
    for format in ["mp3", "opus", "aac", "flac", "wav", "pcm"] {
        let response = api
            .speech(json!({"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": format}))
            .await;
        assert_eq!(response.status(), 200, "{format}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        let rate: u32 = response.headers()["x-sample-rate"].to_str().unwrap().parse().unwrap();
        let bytes = response.bytes().await.unwrap();
        let expected_type = match format {
            "mp3" => "audio/mpeg",
            "opus" => "audio/ogg",
            "aac" => "audio/aac",
            "flac" => "audio/flac",
            "wav" => "audio/wav",
            _ => "audio/pcm",
        };
        assert_eq!(content_type, expected_type, "{format}");
        let decoded = audio::decode(format, &bytes, rate);
        assert_eq!(decoded.channels, 1, "{format}");
        assert_eq!(
            decoded.sample_rate, rate,
            "{format}: X-Sample-Rate disagrees with the stream"
        );
        assert!(decoded.duration() > 2.0, "{format}: only {:.2} s", decoded.duration());
        assert!(decoded.rms() > 0.01, "{format}: silent (rms {:.4})", decoded.rms());
        durations.push((format, decoded.duration()));
    }
    // The same text in every format lasts the same (within codec padding; ADTS has no way to
    // say how much the AAC encoder's priming and flush added, about 0.23 s).
    let (_, reference) = *durations.iter().find(|(f, _)| *f == "pcm").unwrap();
    for (format, d) in &durations {
        let padding = if *format == "aac" { 0.3 } else { 0.15 };
        assert!(
            (d - reference).abs() < padding,
            "{format} lasts {d:.3} s, pcm {reference:.3} s"
        );
    }
}

#[tokio::test]
async fn a_cache_hit_returns_identical_bytes_without_a_new_job() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let worker = env.worker(&[]).await;
    let body = json!({"model": "tts-1-hd", "input": TEXT, "voice": "en-us", "response_format": "wav", "speed": 1.25});

    let first = api.speech(body.clone()).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-orator-cache"], "miss");
    let first = first.bytes().await.unwrap();

    let db = env.db().await;
    let jobs_after_miss: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(jobs_after_miss, 1);
    let worker_lines = worker.logs().iter().filter(|l| l.contains("job succeeded")).count();

    let second = api.speech(body).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["x-orator-cache"], "hit");
    assert_eq!(
        second.bytes().await.unwrap(),
        first,
        "a hit must return the very same bytes"
    );

    let jobs_after_hit: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(jobs_after_hit, 1, "a hit must not create a job");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        worker.logs().iter().filter(|l| l.contains("job succeeded")).count(),
        worker_lines
    );

    // A different speed is different audio: a miss again.
    let other = api
        .speech(json!({"model": "tts-1", "input": TEXT, "voice": "en-us", "response_format": "wav", "speed": 2.0}))
        .await;
    assert_eq!(other.headers()["x-orator-cache"], "miss");
    let faster = other.bytes().await.unwrap();
    assert!(
        faster.len() < first.len() * 3 / 4,
        "speed 2.0 should be clearly shorter"
    );
}

#[tokio::test]
async fn engine_voice_ids_and_openai_names_both_work() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;

    let voices: serde_json::Value = api
        .request(reqwest::Method::GET, "/v1/audio/voices")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = voices["data"].as_array().unwrap();
    assert!(data.len() > 50, "{} voices", data.len());
    let german = data.iter().find(|v| v["id"] == "de").expect("German voice");
    assert_eq!(german["language"], "de");
    let aliases: Vec<&str> = data
        .iter()
        .flat_map(|v| {
            v["openai_aliases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
        })
        .collect();
    for name in [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    ] {
        assert!(aliases.contains(&name), "{name} is not served by any voice");
    }

    let models: serde_json::Value = api
        .request(reqwest::Method::GET, "/v1/models")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"tts-1") && ids.contains(&"tts-1-hd") && ids.contains(&"espeak-ng"),
        "{ids:?}"
    );

    for (model, voice) in [("espeak-ng", "de"), ("tts-1", "nova")] {
        let r = api
            .speech(json!({"model": model, "input": "Guten Tag", "voice": voice, "response_format": "pcm"}))
            .await;
        assert_eq!(r.status(), 200, "{model}/{voice}");
        assert!(r.bytes().await.unwrap().len() > 10_000);
    }
}

#[tokio::test]
async fn the_official_openai_sdk_works_unmodified() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let out = std::env::temp_dir().join(format!("orator-sdk-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&out).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/openai_sdk_check.py");
    let python = std::env::var("ORATOR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = tokio::process::Command::new(python)
        .arg(script)
        .arg(format!("{}/v1", api.service.url()))
        .arg(&api.key)
        .arg(&out)
        .status()
        .await
        .expect("python3");
    assert!(
        status.success(),
        "the openai SDK script failed (is `openai` installed? scripts/setup.sh installs it)"
    );
    for name in ["plain.mp3", "streamed.wav", "contract.aac", "object.wav"] {
        let bytes = std::fs::read(out.join(name)).unwrap();
        let format = name.rsplit('.').next().unwrap();
        let decoded = audio::decode(format, &bytes, 0);
        assert!(
            decoded.duration() > 0.5 && decoded.rms() > 0.01,
            "{name}: {:.2} s",
            decoded.duration()
        );
    }
    let _ = std::fs::remove_dir_all(out);
}

#[tokio::test]
async fn todays_openai_fields_are_accepted_and_say_what_they_do() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;

    let models: serde_json::Value = orator_e2e::json(api.request(reqwest::Method::GET, "/v1/models")).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for model in ["gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"] {
        assert!(ids.contains(&model), "{ids:?}");
    }
    let voices: serde_json::Value = orator_e2e::json(api.request(reqwest::Method::GET, "/v1/audio/voices")).await;
    let aliases: Vec<&str> = voices["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| {
            v["openai_aliases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
        })
        .collect();
    for voice in ["marin", "cedar"] {
        assert!(aliases.contains(&voice), "{aliases:?}");
    }

    // instructions are accepted, not applied, and the answer says so; they do not change
    // the audio (nor its cache entry).
    let plain = api
        .speech(json!({"model": "gpt-4o-mini-tts", "input": "Instructions.", "voice": {"id": "marin"}, "response_format": "wav"}))
        .await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("x-orator-instructions").is_none());
    let plain = plain.bytes().await.unwrap();
    let instructed = api
        .speech(json!({"model": "gpt-4o-mini-tts", "input": "Instructions.", "voice": "marin", "response_format": "wav", "instructions": "Whisper."}))
        .await;
    assert_eq!(instructed.status(), 200);
    assert_eq!(instructed.headers()["x-orator-instructions"], "ignored");
    assert_eq!(instructed.headers()["x-orator-cache"], "hit");
    assert_eq!(instructed.bytes().await.unwrap(), plain);

    let too_long = api
        .speech(json!({"model": "gpt-4o-mini-tts", "input": "x", "voice": "marin", "instructions": "x".repeat(4097)}))
        .await;
    assert_eq!(too_long.status(), 400);
    let error: serde_json::Value = too_long.json().await.unwrap();
    assert_eq!(error["error"]["param"], "instructions", "{error}");
}
