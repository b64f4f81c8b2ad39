//! Streaming speech: audio arrives while it is synthesised, through the official SDK, in
//! every format and as server-sent events; a client that leaves mid-stream leaves nothing
//! behind; captions line up with the original text.

use std::time::Duration;

use orator_e2e::{TestEnv, audio, eventually, metric};
use serde_json::{Value, json};

/// Runs `tests/openai_stream_check.py` against `api` with `model`; its results and files.
async fn sdk_streams(api: &orator_e2e::Api, model: &str) -> (Value, std::path::PathBuf) {
    let out = std::env::temp_dir().join(format!("orator-stream-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&out).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/openai_stream_check.py");
    let python = std::env::var("ORATOR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = tokio::process::Command::new(python)
        .args([
            script,
            &format!("{}/v1", api.service.url()),
            &api.key,
            out.to_str().unwrap(),
            model,
        ])
        .status()
        .await
        .expect("python");
    assert!(status.success(), "the streaming SDK script failed");
    let results = serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    (results, out)
}

#[tokio::test]
async fn the_sdk_hears_every_format_before_synthesis_ends_and_sse_carries_the_same_audio() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let (results, out) = sdk_streams(&api, "tts-1").await;
    println!("{results:#}");

    let pcm = &results["formats"]["pcm"];
    let rate = pcm["sample_rate"].as_u64().unwrap() as u32;
    let expected = pcm["bytes"].as_f64().unwrap() / 2.0 / f64::from(rate);
    assert!(expected > 20.0, "{expected} s of audio: the input is long");
    for (format, timing) in results["formats"].as_object().unwrap() {
        let (first, last) = (timing["first_s"].as_f64().unwrap(), timing["last_s"].as_f64().unwrap());
        assert!(timing["chunks"].as_u64().unwrap() > 3, "{format}: {timing}");
        // Sent whole, the bytes would arrive within milliseconds of each other; streamed,
        // they spread over the synthesis (about half a second here, more under load). Any
        // delay before the job starts shifts both alike, so the spread is what is asserted.
        assert!(
            last - first > 0.2,
            "{format}: first byte at {first:.3} s, last at {last:.3} s"
        );
        let bytes = std::fs::read(out.join(format!("stream.{format}"))).unwrap();
        let decoded = audio::decode(format, &bytes, rate);
        // Codecs add at most a few frames of delay and padding.
        assert!(
            (decoded.duration() - expected).abs() < 0.3,
            "{format}: {:.2} s decoded, {expected:.2} s expected",
            decoded.duration()
        );
        assert!(decoded.rms() > 0.01, "{format}: silent");
    }

    let sse = &results["sse"];
    assert!(sse["deltas"].as_u64().unwrap() > 3, "{sse}");
    assert!(
        sse["last_s"].as_f64().unwrap() - sse["first_s"].as_f64().unwrap() > 0.2,
        "{sse}"
    );
    let decoded = audio::decode("mp3", &std::fs::read(out.join("sse.mp3")).unwrap(), 0);
    let frames = sse["usage"]["output_tokens"].as_f64().unwrap();
    assert!(
        (decoded.duration() - frames * 0.02).abs() < 0.3,
        "{:.2} s decoded, {frames} frames of 20 ms in usage",
        decoded.duration()
    );
    let _ = std::fs::remove_dir_all(out);
}

fn long(tag: &str) -> Value {
    let text = format!("{tag}. ") + &"A client may leave in the middle of a long answer. ".repeat(60);
    json!({"model": "tts-1", "input": text, "voice": "echo", "response_format": "wav"})
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_leaves_no_waiter_and_the_job_fills_the_cache() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let url = api.service.url();

    let mut response = api.speech(long("Leaving early")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-orator-cache"], "miss");
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty());
    drop(response);

    // The job goes on to fill the cache (documented in the README), then nothing is left.
    eventually("the job to succeed", Duration::from_secs(30), || async {
        let jobs = orator_e2e::json(api.request(reqwest::Method::GET, "/v1/jobs")).await;
        (jobs["data"][0]["status"] == "succeeded").then_some(())
    })
    .await;
    eventually("the stream gauges to settle", Duration::from_secs(10), || async {
        let cancelled = metric(&url, "orator_streams_cancelled_total", &[r#"format="wav""#]).await;
        let active = metric(&url, "orator_streams_active", &[]).await;
        let waiters = metric(&url, "orator_completion_waiters", &[]).await;
        (cancelled == 1.0 && active == 0.0 && waiters == 0.0).then_some(())
    })
    .await;
    let again = api.speech(long("Leaving early")).await;
    assert_eq!(again.headers()["x-orator-cache"], "hit");
    let bytes = again.bytes().await.unwrap();
    let decoded = audio::decode("wav", &bytes, 0);
    assert!(decoded.duration() > 30.0, "{:.1} s", decoded.duration());
}

#[tokio::test]
async fn identical_requests_in_flight_share_one_stream() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let (a, b) = tokio::join!(api.speech(long("Together")), api.speech(long("Together")));
    let sources = [
        a.headers()["x-orator-cache"].clone(),
        b.headers()["x-orator-cache"].clone(),
    ];
    let (a, b) = tokio::join!(a.bytes(), b.bytes());
    assert_eq!(a.unwrap(), b.unwrap(), "both got the same audio");
    assert!(
        sources.iter().any(|s| s == "joined") && sources.iter().any(|s| s == "miss"),
        "{sources:?}"
    );
    let jobs = orator_e2e::json(api.request(reqwest::Method::GET, "/v1/jobs")).await;
    assert_eq!(jobs["data"].as_array().unwrap().len(), 1, "one job for both: {jobs}");
}

/// `(start, end, text)` of each cue of a WebVTT file, times in seconds.
fn parse_webvtt(vtt: &str) -> Vec<(f64, f64, String)> {
    let mut blocks = vtt.split("\n\n");
    assert_eq!(blocks.next().map(str::trim), Some("WEBVTT"), "{vtt}");
    let seconds = |t: &str| {
        let parts: Vec<f64> = t.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    blocks
        .filter(|b| !b.trim().is_empty())
        .map(|block| {
            let lines: Vec<&str> = block.lines().collect();
            assert_eq!(lines.len(), 3, "identifier, timing, one line of text: {block:?}");
            let (start, end) = lines[1].split_once(" --> ").expect("a timing line");
            let text = lines[2].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            (seconds(start), seconds(end), text)
        })
        .collect()
}

#[tokio::test]
async fn captions_are_webvtt_cues_of_the_original_text_covering_the_audio() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let input = "Captions follow the text as written.  Even   <odd> spacing & marks!\n\nA new paragraph? It ends here.";
    let job = api
        .create_job(json!({"model": "tts-1", "input": input, "voice": "nova", "response_format": "wav"}))
        .await;
    let id = job["id"].as_str().unwrap();
    api.wait_for_status(id, "succeeded", Duration::from_secs(30)).await;
    let response = api
        .request(reqwest::Method::GET, &format!("/v1/jobs/{id}/captions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/vtt; charset=utf-8");
    let cues = parse_webvtt(&response.text().await.unwrap());
    assert_eq!(cues.len(), 4, "{cues:?}");
    // Each cue's text is the next sentence of the input, as written (white space runs
    // become one space: a cue is one line).
    let mut from = 0;
    let squeezed = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    for (_, _, text) in &cues {
        let rest = &input[from..];
        let words: Vec<&str> = text.split(' ').collect();
        let at = rest
            .find(words[0])
            .unwrap_or_else(|| panic!("{text:?} not in the input after byte {from}"));
        let span_end = at + rest[at..].find(words[words.len() - 1]).unwrap() + words[words.len() - 1].len();
        assert_eq!(squeezed(&rest[at..span_end]), *text);
        from += span_end;
    }
    let audio = api
        .request(reqwest::Method::GET, &format!("/v1/jobs/{id}/audio"))
        .send()
        .await
        .unwrap();
    let duration = audio::decode("wav", &audio.bytes().await.unwrap(), 0).duration();
    assert!(cues[0].0 < 0.5, "{cues:?}");
    for pair in cues.windows(2) {
        assert!(pair[0].0 < pair[0].1 && pair[0].1 <= pair[1].0, "{cues:?}");
    }
    let last_end = cues.last().unwrap().1;
    assert!(
        (last_end - duration).abs() < 0.5,
        "last cue ends at {last_end} s, audio is {duration} s"
    );
}
