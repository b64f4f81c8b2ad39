//! The Piper engine end to end: the api lists and accepts its voice, the worker loads the
//! real model through ONNX Runtime and serves it in every format, with its metrics and spans.

use std::time::Duration;

use orator_e2e::{TestEnv, audio, eventually, otlp::Receiver};
use reqwest::Method;
use serde_json::{Value, json};

const TEXT: &str = "The neural voice reads this sentence. Then it reads a second one, after a pause.";

fn with<'a>(vars: &'a [(&'static str, String)], extra: &[(&'static str, &'a str)]) -> Vec<(&'static str, &'a str)> {
    vars.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// The `models` check of the worker's `/health`, once it satisfies `done`.
async fn models_check(worker_url: &str, done: impl Fn(&Value) -> bool) -> Value {
    eventually("the worker's models check", Duration::from_secs(60), || async {
        let body: Value = reqwest::get(format!("{worker_url}/health"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let check = body["checks"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == "models")?
            .clone();
        done(&check).then_some(check)
    })
    .await
}

async fn ready(worker_url: &str) -> Value {
    models_check(worker_url, |c| c["status"] == "healthy").await
}

async fn metrics(worker_url: &str) -> String {
    reqwest::get(format!("{worker_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn tts_1_hd_speaks_with_the_neural_voice_in_every_format() {
    let env = TestEnv::new().await;
    let piper = TestEnv::piper();
    let api = env.api(&with(&piper, &[])).await;
    let worker = env.worker(&with(&piper, &[])).await;
    let check = ready(&worker.url()).await;
    assert_eq!(check["details"]["voices"], json!(["en_US-joe-medium"]), "{check}");

    // The catalogue: both engines' voices and models.
    let voices: Value = orator_e2e::json(api.request(Method::GET, "/v1/audio/voices")).await;
    let joe = voices["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["engine"] == "piper")
        .expect("a piper voice");
    assert_eq!(joe["id"], "en_US-joe-medium");
    assert_eq!(joe["language"], "en-us");
    assert_eq!(joe["sample_rate"], 22_050);
    assert_eq!(
        joe["models"],
        json!(["tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15", "piper"])
    );
    assert!(joe["openai_aliases"].as_array().unwrap().contains(&json!("alloy")));
    let models: Value = orator_e2e::json(api.request(Method::GET, "/v1/models")).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "tts-1",
            "tts-1-hd",
            "gpt-4o-mini-tts",
            "gpt-4o-mini-tts-2025-12-15",
            "espeak-ng",
            "piper"
        ]
    );

    let chars = TEXT.chars().count() as f64;
    for format in ["mp3", "opus", "flac", "wav", "pcm"] {
        let response = api
            .speech(json!({"model": "tts-1-hd", "input": TEXT, "voice": "alloy", "response_format": format}))
            .await;
        assert_eq!(response.status(), 200, "{format}");
        let rate: u32 = response.headers()["x-sample-rate"].to_str().unwrap().parse().unwrap();
        let bytes = response.bytes().await.unwrap();
        let decoded = audio::decode(format, &bytes, rate);
        let expected_rate = if format == "opus" { 48_000 } else { 22_050 };
        assert_eq!(decoded.sample_rate, expected_rate, "{format}");
        // English is read at 10 to 20 characters a second; the bound is wider than that.
        let seconds = decoded.duration();
        assert!(
            (chars / 30.0..chars / 6.0).contains(&seconds),
            "{format}: {seconds} s for {chars} characters"
        );
        assert!(decoded.rms() > 0.02, "{format}: silent (rms {})", decoded.rms());
    }

    // The engine's name works as a model; an espeak-ng voice with the neural model does not go
    // together (a 422 that names the model to use), and tts-1 still reaches espeak-ng.
    let by_name = api
        .speech(json!({"model": "piper", "input": "By name.", "voice": "en_US-joe-medium", "response_format": "wav"}))
        .await;
    assert_eq!(by_name.status(), 200);
    let mismatch = api
        .speech(json!({"model": "tts-1-hd", "input": "Mismatch.", "voice": "en-gb", "response_format": "wav"}))
        .await;
    assert_eq!(mismatch.status(), 422);
    let error: Value = mismatch.json().await.unwrap();
    assert_eq!(error["error"]["code"], "voice_not_in_model", "{error}");
    assert_eq!(error["error"]["param"], "voice");
    let espeak = api
        .speech(json!({"model": "tts-1", "input": "Still espeak.", "voice": "alloy", "response_format": "wav"}))
        .await;
    assert_eq!(espeak.status(), 200);

    // Deterministic settings: the same text synthesised again (its audio deleted first) gives
    // the same bytes.
    let body =
        json!({"model": "tts-1-hd", "input": "Same words, same bytes.", "voice": "alloy", "response_format": "wav"});
    let mut clips = Vec::new();
    for _ in 0..2 {
        let job = api.create_job(body.clone()).await;
        let id = job["id"].as_str().unwrap().to_owned();
        api.wait_for_status(&id, "succeeded", Duration::from_secs(30)).await;
        let audio = api
            .request(Method::GET, &format!("/v1/jobs/{id}/audio"))
            .send()
            .await
            .unwrap();
        assert_eq!(audio.status(), 200);
        clips.push(audio.bytes().await.unwrap());
        let deleted = api
            .request(Method::DELETE, &format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 200);
    }
    assert!(clips[0].len() > 10_000);
    assert!(clips[0] == clips[1], "the same text gave different audio");

    // A long text with no full stop is cut into pieces: one inference's memory grows with
    // its length (about 30 MB per second of audio), so a minute of speech in one piece would
    // take gigabytes.
    let run_on = "and then the story went on without a single full stop ".repeat(18);
    let job = api
        .create_job(json!({"model": "tts-1-hd", "input": run_on, "voice": "alloy", "response_format": "pcm"}))
        .await;
    let done = api
        .wait_for_status(job["id"].as_str().unwrap(), "succeeded", Duration::from_secs(60))
        .await;
    let peak_mb = worker.peak_rss() as f64 / 1e6;
    eprintln!("worker peak RSS with the Piper voice: {peak_mb:.0} MB; {done}");
    assert!(peak_mb < 800.0, "worker peak RSS {peak_mb:.0} MB");

    // The inference metrics moved.
    let text = metrics(&worker.url()).await;
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("no {line_start} in /metrics"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        value(r#"orator_model_up{engine="piper",model="en_US-joe-medium"}"#),
        1.0
    );
    assert!(value(r#"orator_model_load_duration_seconds{engine="piper",model="en_US-joe-medium"}"#) > 0.0);
    assert!(value(r#"orator_model_warmup_duration_seconds{engine="piper",model="en_US-joe-medium"}"#) > 0.0);
    assert!(value(r#"orator_model_size_bytes{engine="piper",model="en_US-joe-medium"}"#) > 1e7);
    assert!(text.contains(
        r#"orator_model_info{engine="piper",model="en_US-joe-medium",language="en-us",sample_rate="22050"} 1"#
    ));
    assert!(value(r#"orator_inference_phonemize_duration_seconds_count{engine="piper"}"#) >= 10.0);
    assert!(value(r#"orator_inference_session_wait_seconds_count{engine="piper"}"#) >= 10.0);
    assert_eq!(value(r#"orator_inference_sessions{engine="piper"}"#), 1.0);
    assert_eq!(value(r#"orator_inference_sessions_busy{engine="piper"}"#), 0.0);
    assert!(value(r#"orator_inference_duration_seconds_count{engine="piper",voice="en_US-joe-medium"}"#) >= 7.0);
    assert!(value(r#"orator_inference_real_time_factor_count{engine="piper",voice="en_US-joe-medium"}"#) >= 7.0);
    assert_eq!(value(r#"orator_engine_up{engine="piper"}"#), 1.0);
}

#[tokio::test]
async fn a_missing_runtime_keeps_the_worker_unready_naming_the_file_while_espeak_serves() {
    let env = TestEnv::new().await;
    let piper = TestEnv::piper();
    let api = env.api(&with(&piper, &[])).await;
    let worker = env
        .worker(&with(
            &piper,
            &[
                ("ORATOR_ONNXRUNTIME_LIB", "/nonexistent/libonnxruntime.so"),
                ("ORATOR_MAX_ATTEMPTS", "1"),
            ],
        ))
        .await;
    let check = models_check(&worker.url(), |c| {
        c["error"].as_str().is_some_and(|e| e.contains("failed to load"))
    })
    .await;
    assert_eq!(check["status"], "unhealthy", "{check}");
    assert!(
        check["error"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/libonnxruntime.so"),
        "{check}"
    );
    let ready = reqwest::get(format!("{}/health/ready", worker.url())).await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = metrics(&worker.url()).await;
    assert!(
        text.contains(r#"orator_model_up{engine="piper",model="en_US-joe-medium"} 0"#),
        "{text}"
    );

    // espeak-ng keeps serving; a neural job fails with a clear code instead of hanging.
    let espeak = api
        .speech(json!({"model": "tts-1", "input": "Still here.", "voice": "alloy", "response_format": "wav"}))
        .await;
    assert_eq!(espeak.status(), 200);
    let job = api
        .create_job(json!({"model": "tts-1-hd", "input": "Not today.", "voice": "alloy", "response_format": "wav"}))
        .await;
    let failed = api
        .wait_for_status(job["id"].as_str().unwrap(), "failed", Duration::from_secs(20))
        .await;
    assert_eq!(failed["error"]["code"], "engine_failed", "{failed}");

    // A voice file that does not exist stops the api at start, naming it.
    let mut bad = piper.clone();
    bad[0].1 = "/nonexistent/voice.onnx".into();
    let mut api_process = tokio::process::Command::new(orator_e2e::process::bin_dir().join("orator-api"))
        .envs(env.service_env())
        .envs(bad.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), api_process.wait())
        .await
        .expect("the api exits")
        .unwrap();
    assert!(!status.success());
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut api_process.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("/nonexistent/voice.onnx.json"), "{stderr}");
}

#[tokio::test]
async fn one_trace_shows_phonemize_infer_and_encode_under_the_job() {
    let receiver = Receiver::start().await;
    let env = TestEnv::new().await;
    let piper = TestEnv::piper();
    let endpoint = format!("http://{}", receiver.grpc);
    let api = env.api(&with(&piper, &[])).await;
    let worker = env
        .worker(&with(
            &piper,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        ))
        .await;
    ready(&worker.url()).await;
    let job = api
        .create_job(json!({"model": "tts-1-hd", "input": "One sentence. And another.", "voice": "alloy", "response_format": "mp3"}))
        .await;
    let id = job["id"].as_str().unwrap();
    api.wait_for_status(id, "succeeded", Duration::from_secs(30)).await;
    let spans = eventually("the worker's spans", Duration::from_secs(15), || async {
        let spans = receiver.spans.all();
        spans.iter().any(|s| s.name.starts_with("store")).then_some(spans)
    })
    .await;
    let synth = spans
        .iter()
        .find(|s| s.name == "synthesize piper")
        .expect("a synthesize span");
    let children = |parent: &str, name: &str| {
        spans
            .iter()
            .filter(|s| s.parent_span_id == parent && s.name == name)
            .count()
    };
    let sentences: Vec<_> = spans
        .iter()
        .filter(|s| s.parent_span_id == synth.span_id && s.name == "synthesize sentence")
        .collect();
    assert_eq!(sentences.len(), 2, "one span per sentence under the synthesis");
    for sentence in sentences {
        assert_eq!(children(&sentence.span_id, "phonemize"), 1, "one per sentence");
        assert_eq!(children(&sentence.span_id, "infer"), 1, "one per sentence");
    }
    let encode = spans
        .iter()
        .find(|s| s.name.starts_with("encode"))
        .expect("encode span");
    assert_eq!(encode.trace_id, synth.trace_id);
    assert_eq!(
        encode.parent_span_id, synth.parent_span_id,
        "encode and synthesize share the job's span"
    );
}

#[tokio::test]
async fn the_neural_voice_streams_its_first_sentence_long_before_the_last() {
    let env = TestEnv::new().await;
    let piper = TestEnv::piper();
    let api = env.api(&with(&piper, &[])).await;
    let worker = env.worker(&with(&piper, &[])).await;
    ready(&worker.url()).await;
    let input = "Each sentence of this text is synthesised and sent on its own. ".repeat(12);
    let started = std::time::Instant::now();
    let mut response = api
        .speech(json!({"model": "tts-1-hd", "input": input, "voice": "alloy", "response_format": "pcm"}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-orator-cache"], "miss");
    let mut arrivals = Vec::new();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        arrivals.push(started.elapsed());
        bytes.extend_from_slice(&chunk);
    }
    let (first, last) = (arrivals[0], *arrivals.last().unwrap());
    println!(
        "piper, {} characters: first audio {first:?}, last {last:?}",
        input.len()
    );
    // Streamed, the sentences arrive over the synthesis (two seconds here); sent whole they
    // would come within milliseconds of each other.
    assert!(
        last - first > Duration::from_millis(500),
        "first audio at {first:?}, last at {last:?}"
    );
    let decoded = audio::decode("pcm", &bytes, 22_050);
    assert!(
        decoded.duration() > 30.0 && decoded.rms() > 0.01,
        "{:.1} s",
        decoded.duration()
    );
}
