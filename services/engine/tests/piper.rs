//! PiperEngine with the real ONNX Runtime and the real joe voice, as fetched by
//! scripts/fetch-models.sh (which scripts/setup.sh runs).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use orator_engine::piper::{LoadState, PiperConfig, PiperEngine, RuntimeConfig};
use orator_engine::{AudioFormat, EngineError, SynthesisRequest, Synthesizer, encode};

fn models() -> PathBuf {
    let dir = std::env::var_os("ORATOR_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.models"));
    let voice = dir.join("piper/en_US-joe-medium.onnx");
    assert!(
        voice.is_file(),
        "{} is missing: run scripts/fetch-models.sh (scripts/setup.sh does)",
        voice.display()
    );
    dir
}

fn config(voice: PathBuf) -> PiperConfig {
    PiperConfig {
        voices: vec![voice],
        aliases: None,
        espeak_binary: "espeak-ng".into(),
        deterministic: true,
    }
}

fn runtime(library: PathBuf) -> RuntimeConfig {
    RuntimeConfig {
        library,
        sessions: 1,
        threads: 2,
    }
}

async fn loaded() -> PiperEngine {
    let dir = models();
    let engine = PiperEngine::open(config(dir.join("piper/en_US-joe-medium.onnx"))).expect("voice config reads");
    engine
        .load(runtime(dir.join("onnxruntime/libonnxruntime.so.1.31.1")))
        .await
        .expect("model loads");
    assert_eq!(engine.state(), LoadState::Ready);
    engine
}

fn request(text: &str) -> SynthesisRequest {
    SynthesisRequest {
        text: text.to_owned(),
        voice: "alloy".to_owned(),
        speed: 1.0,
        max_duration: None,
    }
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

#[tokio::test]
async fn speaks_plausible_deterministic_audio_in_every_format() {
    let engine = loaded().await;
    let voices = engine.voices();
    assert_eq!(voices.len(), 1);
    assert_eq!(
        (voices[0].id.as_str(), voices[0].language.as_str()),
        ("en_US-joe-medium", "en-us")
    );
    assert_eq!(voices[0].sample_rate, 22_050);
    assert!(
        voices[0].aliases.contains(&"alloy".to_owned()),
        "{:?}",
        voices[0].aliases
    );

    let text = "Hello there, this is the neural voice. It reads two sentences, with a pause between them.";
    let started = Instant::now();
    let pcm = engine.synthesize(&request(text)).await.unwrap();
    let took = started.elapsed();
    assert_eq!(pcm.sample_rate, 22_050);
    // English runs at roughly 12 to 18 characters a second; allow a wide margin.
    let seconds = pcm.duration_seconds();
    let chars = text.chars().count() as f64;
    assert!(
        (chars / 30.0..chars / 6.0).contains(&seconds),
        "{seconds} s for {chars} characters"
    );
    assert!(rms(&pcm.samples) > 500.0, "too quiet: rms {}", rms(&pcm.samples));
    println!(
        "{seconds:.2} s of audio in {took:?} (rtf {:.3})",
        took.as_secs_f64() / seconds
    );

    let again = engine.synthesize(&request(text)).await.unwrap();
    assert!(
        again.samples == pcm.samples,
        "deterministic settings give the same samples"
    );

    // Slower speech is longer.
    let slow = engine
        .synthesize(&SynthesisRequest {
            speed: 0.5,
            ..request(text)
        })
        .await
        .unwrap();
    assert!(
        slow.duration_seconds() > seconds * 1.5,
        "{} vs {seconds}",
        slow.duration_seconds()
    );

    for format in AudioFormat::ALL {
        let bytes = encode(&pcm, format).unwrap();
        assert!(bytes.len() > 1000, "{format}: {} bytes", bytes.len());
    }
}

#[tokio::test]
async fn the_duration_cap_stops_long_text_and_silence_is_an_error() {
    let engine = loaded().await;
    let long = "This sentence is read again and again until it is far too long. ".repeat(6);
    let capped = engine
        .synthesize(&SynthesisRequest {
            max_duration: Some(Duration::from_secs(2)),
            ..request(&long)
        })
        .await;
    assert!(matches!(capped, Err(EngineError::TooLong(_))), "{capped:?}");
    let silent = engine.synthesize(&request("... !")).await;
    assert!(matches!(silent, Err(EngineError::EmptyOutput)), "{silent:?}");
    let unknown = SynthesisRequest {
        voice: "en-us".into(),
        ..request("hi")
    };
    assert!(matches!(
        engine.synthesize(&unknown).await,
        Err(EngineError::UnknownVoice(_))
    ));
}

#[tokio::test]
async fn a_missing_file_is_named_and_the_engine_says_why_it_cannot_speak() {
    let dir = models();
    let missing_config = PiperEngine::open(config(dir.join("piper/nobody.onnx"))).unwrap_err();
    assert!(
        missing_config.to_string().contains("nobody.onnx.json"),
        "{missing_config}"
    );

    let engine = PiperEngine::open(config(dir.join("piper/en_US-joe-medium.onnx"))).unwrap();
    assert_eq!(engine.state(), LoadState::NotLoaded);
    let not_loaded = engine.synthesize(&request("hi")).await.unwrap_err();
    assert!(matches!(not_loaded, EngineError::Unavailable(_)), "{not_loaded}");

    let error = engine
        .load(runtime(dir.join("onnxruntime/missing.so")))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("missing.so"), "{error}");
    match engine.state() {
        LoadState::Failed(message) => assert!(message.contains("missing.so"), "{message}"),
        other => panic!("{other:?}"),
    }
    let unavailable = engine.synthesize(&request("hi")).await.unwrap_err();
    assert!(unavailable.to_string().contains("missing.so"), "{unavailable}");
}
