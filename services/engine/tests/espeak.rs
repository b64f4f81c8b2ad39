//! EspeakEngine against the real espeak-ng binary.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orator_engine::{EngineError, EspeakConfig, EspeakEngine, SynthesisRequest, Synthesizer};

const SENTENCE: &str = "The quick brown fox jumps over the lazy dog, then it runs back into the forest.";

async fn engine() -> EspeakEngine {
    EspeakEngine::new(EspeakConfig::default())
        .await
        .expect("espeak-ng is installed")
}

fn request(text: &str, voice: &str, speed: f32) -> SynthesisRequest {
    SynthesisRequest {
        text: text.to_owned(),
        voice: voice.to_owned(),
        speed,
        max_duration: None,
    }
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// A scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orator-engine-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A stand-in for espeak-ng that answers the startup queries with the real binary and runs
/// `body` for syntheses.
fn wrapper(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("espeak-ng-wrapper");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --version|--voices*) exec espeak-ng \"$@\";; esac; done\n{body}\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn lists_many_unique_voices_including_en_us() {
    let engine = engine().await;
    assert_eq!(engine.name(), "espeak-ng");
    assert!(engine.version().starts_with("1."), "version {:?}", engine.version());
    let voices = engine.voices();
    assert!(voices.len() > 50, "only {} voices", voices.len());
    let ids: HashSet<&str> = voices.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids.len(), voices.len(), "voice ids are not unique");
    assert!(!ids.contains("variant"));
    let en_us = voices.iter().find(|v| v.id == "en-us").expect("en-us");
    assert_eq!(en_us.name, "English (America)");
    assert_eq!(en_us.language, "en-us");
    assert_eq!(en_us.gender.as_deref(), Some("male"));
    assert!(en_us.aliases.iter().any(|a| a == "alloy"), "{en_us:?}");
    // All eleven OpenAI names are attached somewhere.
    let aliases: HashSet<&str> = voices
        .iter()
        .flat_map(|v| v.aliases.iter().map(String::as_str))
        .collect();
    for name in [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    ] {
        assert!(aliases.contains(name), "alias {name} missing");
    }
    assert!(engine.variants().iter().any(|v| v == "f3"));
}

#[tokio::test]
async fn resolves_ids_aliases_and_variants() {
    let engine = engine().await;
    assert_eq!(engine.resolve_voice("alloy").as_deref(), Some("en-us+f3"));
    assert_eq!(engine.resolve_voice("Fable").as_deref(), Some("en-gb+m4"));
    assert_eq!(engine.resolve_voice("en-us").as_deref(), Some("en-us"));
    assert_eq!(engine.resolve_voice("EN-US").as_deref(), Some("en-us"));
    assert_eq!(engine.resolve_voice("de+m3").as_deref(), Some("de+m3"));
    // Variant file names are case-sensitive to espeak-ng; the canonical spelling comes back.
    assert_eq!(engine.resolve_voice("en-us+alex").as_deref(), Some("en-us+Alex"));
    assert_eq!(engine.resolve_voice("klingon"), None);
    assert_eq!(engine.resolve_voice("en-us+nosuchvariant"), None);
    assert_eq!(engine.resolve_voice("en-us+../../etc"), None);
    assert_eq!(engine.resolve_voice("-w"), None);
}

#[tokio::test]
async fn speaks_a_sentence_at_the_header_rate() {
    let engine = engine().await;
    let pcm = engine.synthesize(&request(SENTENCE, "en-us", 1.0)).await.unwrap();
    assert_eq!(pcm.sample_rate, 22_050);
    let seconds = pcm.duration_seconds();
    assert!((2.5..8.0).contains(&seconds), "{seconds} s");
    assert!(rms(&pcm.samples) > 500.0, "rms {}", rms(&pcm.samples));
}

#[tokio::test]
async fn every_listed_voice_is_accepted_by_espeak() {
    let engine = Arc::new(engine().await);
    let mut tasks = tokio::task::JoinSet::new();
    for voice in engine.voices().iter().map(|v| v.id.clone()) {
        let engine = Arc::clone(&engine);
        tasks.spawn(async move {
            // Letters rather than digits: a few languages (cv, he, tk, ...) say nothing for "1 2 3".
            let result = engine.synthesize(&request("a b c hello", &voice, 1.0)).await;
            (voice, result)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (voice, result) = joined.unwrap();
        match result {
            Ok(pcm) if pcm.duration_seconds() > 0.5 => {}
            Ok(pcm) => failures.push(format!("{voice}: {} s", pcm.duration_seconds())),
            Err(e) => failures.push(format!("{voice}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn aliases_sound_different() {
    let engine = engine().await;
    let mut seen = HashSet::new();
    for alias in [
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
    ] {
        let pcm = engine.synthesize(&request("Hello there.", alias, 1.0)).await.unwrap();
        assert!(seen.insert(pcm.samples), "{alias} sounds like another alias");
    }
    // A variant really changes the voice (espeak-ng falls back silently on unknown ones).
    let plain = engine.synthesize(&request("Hello there.", "en-us", 1.0)).await.unwrap();
    assert!(!seen.contains(&plain.samples));
}

#[tokio::test]
async fn speed_changes_duration() {
    let engine = engine().await;
    let at = |speed| {
        let engine = &engine;
        async move {
            engine
                .synthesize(&request(SENTENCE, "en-us", speed))
                .await
                .unwrap()
                .duration_seconds()
        }
    };
    let (normal, fast, fastest, slow) = (at(1.0).await, at(2.0).await, at(4.0).await, at(0.5).await);
    assert!(fast < normal * 0.65, "2.0: {fast} s vs 1.0: {normal} s");
    assert!(fastest < fast * 0.8, "4.0: {fastest} s vs 2.0: {fast} s");
    assert!(slow > normal * 1.5, "0.5: {slow} s vs 1.0: {normal} s");
}

#[tokio::test]
async fn option_like_text_is_spoken_not_parsed() {
    let engine = engine().await;
    let dir = scratch("options");
    let target = dir.join("injected.wav");
    let text = format!("--help -w {} -v de --voices -s 80 -x", target.display());
    let pcm = engine.synthesize(&request(&text, "en-us", 1.0)).await.unwrap();
    // Help text or a voice list on stdout would not parse as WAV; spoken it lasts seconds.
    assert!(pcm.duration_seconds() > 2.0, "{} s", pcm.duration_seconds());
    assert!(rms(&pcm.samples) > 500.0);
    assert!(!target.exists(), "-w in the text was obeyed");
    let dash = engine.synthesize(&request("-", "en-us", 1.0)).await;
    // A lone dash is either spoken or silence, but never an option error.
    assert!(matches!(dash, Ok(_) | Err(EngineError::EmptyOutput)), "{dash:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn long_utf8_text_is_read_whole() {
    let engine = engine().await;
    // Over 1000 bytes with multi-byte characters: line-wise reading would cut it into pieces.
    let text = "Grüße aus Köln, schöne Äpfel und süße Öfen. ".repeat(40);
    assert!(text.len() > 1_000);
    let pcm = engine.synthesize(&request(&text, "de", 1.0)).await.unwrap();
    assert!(pcm.duration_seconds() > 60.0, "{} s", pcm.duration_seconds());
}

#[tokio::test]
async fn empty_text_and_unknown_voice_are_errors() {
    let engine = engine().await;
    for text in ["", "   \n\t "] {
        let result = engine.synthesize(&request(text, "en-us", 1.0)).await;
        assert!(matches!(result, Err(EngineError::EmptyOutput)), "{text:?}: {result:?}");
    }
    let result = engine.synthesize(&request("hello", "klingon", 1.0)).await;
    assert!(matches!(result, Err(EngineError::UnknownVoice(v)) if v == "klingon"));
}

#[tokio::test]
async fn failing_engine_reports_its_stderr() {
    let dir = scratch("failing");
    let binary = wrapper(&dir, "echo 'synthesis exploded' >&2; exit 3");
    let engine = EspeakEngine::new(EspeakConfig {
        binary,
        max_concurrency: 1,
    })
    .await
    .unwrap();
    let err = engine.synthesize(&request("hello", "en-us", 1.0)).await.unwrap_err();
    match &err {
        EngineError::Failed { status, stderr } => {
            assert_eq!(status.code(), Some(3));
            assert_eq!(stderr, "synthesis exploded");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("synthesis exploded"));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn bad_binary_fails_at_startup() {
    let missing = EspeakEngine::new(EspeakConfig {
        binary: "/nonexistent/espeak-ng".into(),
        max_concurrency: 1,
    })
    .await;
    assert!(matches!(missing, Err(EngineError::Spawn { .. })), "{missing:?}");
    let failing = EspeakEngine::new(EspeakConfig {
        binary: "false".into(),
        max_concurrency: 1,
    })
    .await;
    assert!(matches!(failing, Err(EngineError::Failed { .. })), "{failing:?}");
    let impostor = EspeakEngine::new(EspeakConfig {
        binary: "true".into(),
        max_concurrency: 1,
    })
    .await;
    assert!(matches!(impostor, Err(EngineError::BadOutput(_))), "{impostor:?}");
}

/// Runs two syntheses at once through a wrapper that logs when each starts and ends, and
/// returns the most that were running together.
async fn peak_concurrency(max_concurrency: usize, name: &str) -> usize {
    let dir = scratch(name);
    let log = dir.join("log");
    let binary = wrapper(
        &dir,
        &format!(
            "echo start >> '{log}'\nsleep 0.3\nespeak-ng \"$@\"\nrc=$?\necho end >> '{log}'\nexit $rc",
            log = log.display()
        ),
    );
    let engine = EspeakEngine::new(EspeakConfig {
        binary,
        max_concurrency,
    })
    .await
    .unwrap();
    let a = request("First call.", "en-us", 1.0);
    let b = request("Second call.", "en-us", 1.0);
    let (a, b) = tokio::join!(engine.synthesize(&a), engine.synthesize(&b));
    assert!(a.unwrap().duration_seconds() > 0.3);
    assert!(b.unwrap().duration_seconds() > 0.3);
    let (mut running, mut peak) = (0usize, 0usize);
    let events = std::fs::read_to_string(&log).unwrap();
    for event in events.lines() {
        match event {
            "start" => running += 1,
            "end" => running -= 1,
            other => panic!("log line {other:?}"),
        }
        peak = peak.max(running);
    }
    assert_eq!(events.lines().count(), 4, "{events}");
    let _ = std::fs::remove_dir_all(dir);
    peak
}

#[tokio::test]
async fn concurrency_is_bounded() {
    assert_eq!(peak_concurrency(1, "bound1").await, 1);
    // The same calls do overlap when allowed to, so the check above can fail.
    assert_eq!(peak_concurrency(2, "bound2").await, 2);
}

#[tokio::test]
async fn dropping_the_future_kills_the_process() {
    let dir = scratch("kill");
    let pid_file = dir.join("pid");
    let binary = wrapper(&dir, &format!("echo $$ > '{}'\nexec sleep 30", pid_file.display()));
    let engine = EspeakEngine::new(EspeakConfig {
        binary,
        max_concurrency: 1,
    })
    .await
    .unwrap();
    let req = request("never finishes", "en-us", 1.0);
    let timed_out = tokio::time::timeout(Duration::from_millis(500), engine.synthesize(&req)).await;
    assert!(timed_out.is_err());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let mut alive = true;
    for _ in 0..40 {
        // Gone, or a zombie waiting to be reaped: either way no longer running.
        alive = std::fs::read_to_string(&stat)
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive, "process {} still running", pid.trim());
    // The permit came back with the dropped future.
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn audio_past_the_requested_cap_stops_the_engine_with_too_long() {
    let engine = engine().await;
    let text = "one two three four five six seven eight nine ten. ".repeat(20);
    let mut req = request(&text, "en-us", 1.0);
    req.max_duration = Some(std::time::Duration::from_secs(2));
    match engine.synthesize(&req).await {
        Err(EngineError::TooLong(limit)) => assert_eq!(limit, std::time::Duration::from_secs(2)),
        other => panic!("expected TooLong, got {:?}", other.map(|p| p.duration_seconds())),
    }
    // The same text without a cap is much longer than the cap: the cap did the refusing.
    req.max_duration = None;
    let pcm = engine.synthesize(&req).await.expect("uncapped synthesis");
    assert!(pcm.duration_seconds() > 10.0, "{}", pcm.duration_seconds());
}

#[tokio::test]
async fn phoneme_brackets_are_spoken_not_interpreted() {
    let engine = engine().await;
    // Read as phonemes, this is "hello world" (about 1 s); read as text, espeak-ng spells out
    // the symbols and takes about three times as long.
    let bracketed = engine
        .synthesize(&request("[[h@'loU w3:ld]]", "en-us", 1.0))
        .await
        .expect("bracketed text speaks");
    let words = engine
        .synthesize(&request("hello world", "en-us", 1.0))
        .await
        .expect("plain words");
    let ratio = bracketed.duration_seconds() / words.duration_seconds();
    assert!(
        ratio > 2.0,
        "bracketed {} s vs words {} s: read as phonemes",
        bracketed.duration_seconds(),
        words.duration_seconds()
    );
}
