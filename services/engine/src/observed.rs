//! Inference metrics and spans around any [`Synthesizer`]: duration, real-time factor,
//! characters, concurrency and errors, all labelled by engine. The names of the encode and
//! model metrics live here too, next to the rest of the inference catalogue.

use std::time::Instant;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use tracing::{Instrument, field::Empty};

use tokio::sync::mpsc;

use crate::{EngineError, Pieces, SynthesisRequest, Synthesizer};

/// Synthesis time by engine and voice.
pub const DURATION: &str = "orator_inference_duration_seconds";
/// Synthesis time divided by audio length (lower is faster).
pub const REAL_TIME_FACTOR: &str = "orator_inference_real_time_factor";
/// Encode time by format.
pub const ENCODE_DURATION: &str = "orator_inference_encode_duration_seconds";
/// Syntheses running now.
pub const IN_PROGRESS: &str = "orator_inference_in_progress";
/// Failed syntheses.
pub const ERRORS: &str = "orator_inference_errors_total";
/// 1 while the engine is loaded and usable.
pub const UP: &str = "orator_engine_up";
/// Always 1; labels carry the engine's name and version.
pub const INFO: &str = "orator_engine_info";
/// 1 once a model is loaded and warmed up, 0 while it loads or after a failed load.
pub const MODEL_UP: &str = "orator_model_up";
/// Seconds the last load of a model took.
pub const MODEL_LOAD_DURATION: &str = "orator_model_load_duration_seconds";
/// Seconds a model's warm-up took.
pub const MODEL_WARMUP_DURATION: &str = "orator_model_warmup_duration_seconds";
/// Size of a model file.
pub const MODEL_SIZE: &str = "orator_model_size_bytes";
/// Always 1; labels describe a configured model.
pub const MODEL_INFO: &str = "orator_model_info";
/// Time to turn one sentence into phonemes.
pub const PHONEMIZE_DURATION: &str = "orator_inference_phonemize_duration_seconds";
/// Wait for a free inference session.
pub const SESSION_WAIT: &str = "orator_inference_session_wait_seconds";
/// Inference sessions running now.
pub const SESSIONS_BUSY: &str = "orator_inference_sessions_busy";
/// Inference sessions in the pools.
pub const SESSIONS: &str = "orator_inference_sessions";
/// Buckets for the real-time factor.
pub const RTF_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];

/// Describes the inference metrics and announces a loaded engine.
pub fn register(engine: &'static str, version: &str) {
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time to synthesise one request, by engine and base voice."
    );
    describe_histogram!(
        REAL_TIME_FACTOR,
        "Synthesis time divided by the length of the audio produced, by engine and base voice."
    );
    describe_histogram!(
        ENCODE_DURATION,
        Unit::Seconds,
        "Time to encode PCM into the output format."
    );
    describe_gauge!(IN_PROGRESS, "Syntheses running now.");
    describe_counter!(ERRORS, "Failed syntheses.");
    describe_gauge!(UP, "1 while the engine is loaded and usable.");
    describe_gauge!(INFO, "Always 1; labels say which engine and version are loaded.");
    describe_models();
    metrics::counter!(ERRORS, "engine" => engine).increment(0);
    metrics::gauge!(UP, "engine" => engine).set(1.0);
    metrics::gauge!(INFO, "engine" => engine, "version" => version.to_owned()).set(1.0);
}

fn describe_models() {
    describe_gauge!(
        MODEL_UP,
        "1 once the model is loaded and warmed up; 0 while it loads or after a failed load."
    );
    describe_gauge!(
        MODEL_LOAD_DURATION,
        Unit::Seconds,
        "Seconds the last load of the model took."
    );
    describe_gauge!(
        MODEL_WARMUP_DURATION,
        Unit::Seconds,
        "Seconds the warm-up synthesis of the model took."
    );
    describe_gauge!(MODEL_SIZE, Unit::Bytes, "Size of the model file.");
    describe_gauge!(MODEL_INFO, "Always 1; labels describe a configured model.");
    describe_histogram!(
        PHONEMIZE_DURATION,
        Unit::Seconds,
        "Time to turn one sentence into phonemes."
    );
    describe_histogram!(SESSION_WAIT, Unit::Seconds, "Wait for a free inference session.");
    describe_gauge!(SESSIONS_BUSY, "Inference sessions running now.");
    describe_gauge!(SESSIONS, "Inference sessions in the pool.");
}

/// A configured model, before it loads: its info, its size, and not up yet.
pub fn model_announce(engine: &'static str, model: &str, language: &str, sample_rate: u32, path: &std::path::Path) {
    describe_models();
    let model = model.to_owned();
    metrics::gauge!(MODEL_UP, "engine" => engine, "model" => model.clone()).set(0.0);
    metrics::gauge!(MODEL_INFO, "engine" => engine, "model" => model.clone(), "language" => language.to_owned(), "sample_rate" => sample_rate.to_string()).set(1.0);
    let size = std::fs::metadata(path).map_or(0, |m| m.len());
    metrics::gauge!(MODEL_SIZE, "engine" => engine, "model" => model).set(size as f64);
    metrics::gauge!(SESSIONS_BUSY, "engine" => engine).increment(0.0);
    metrics::gauge!(SESSIONS, "engine" => engine).increment(0.0);
    metrics::counter!(ERRORS, "engine" => engine).increment(0);
}

/// A configured model whose voice config cannot be read: down, so that the alert sees it.
pub fn model_unreadable(engine: &'static str, model: &str) {
    describe_models();
    metrics::gauge!(MODEL_UP, "engine" => engine, "model" => model.to_owned()).set(0.0);
}

/// A model's sessions exist.
pub fn model_loaded(engine: &'static str, model: &str, took: std::time::Duration) {
    metrics::gauge!(MODEL_LOAD_DURATION, "engine" => engine, "model" => model.to_owned()).set(took.as_secs_f64());
}

/// A model is warmed up and serves.
pub fn model_ready(engine: &'static str, model: &str, warm_up: std::time::Duration) {
    metrics::gauge!(MODEL_WARMUP_DURATION, "engine" => engine, "model" => model.to_owned()).set(warm_up.as_secs_f64());
    metrics::gauge!(MODEL_UP, "engine" => engine, "model" => model.to_owned()).set(1.0);
}

/// One sentence became phonemes.
pub fn phonemized(engine: &'static str, took: std::time::Duration) {
    metrics::histogram!(PHONEMIZE_DURATION, "engine" => engine).record(took.as_secs_f64());
}

/// Variants (`en-us+f3`) share their base voice's label, which keeps the label bounded by
/// the engine's voice list.
fn base_voice(voice: &str) -> String {
    voice.split('+').next().unwrap_or(voice).to_owned()
}

/// A synthesis in progress until dropped; one dropped unfinished (a timeout, a cancelled
/// job) leaves the gauge and counts as an error.
struct Running {
    engine: &'static str,
    span: tracing::Span,
    finished: bool,
}

impl Running {
    fn start(engine: &'static str, span: tracing::Span) -> Self {
        metrics::gauge!(IN_PROGRESS, "engine" => engine).increment(1.0);
        Self {
            engine,
            span,
            finished: false,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        metrics::gauge!(IN_PROGRESS, "engine" => self.engine).decrement(1.0);
        if !self.finished {
            metrics::counter!(ERRORS, "engine" => self.engine).increment(1);
            self.span.record("otel.status_code", "ERROR");
            self.span.in_scope(|| {
                tracing::warn!(
                    exception.message = "synthesis abandoned before it finished",
                    "synthesis cancelled"
                )
            });
        }
    }
}

/// Synthesises in a `synthesize` span, forwarding the engine's pieces to `out` and
/// recording the inference metrics; returns the seconds of audio produced.
pub async fn synthesize(engine: &dyn Synthesizer, request: &SynthesisRequest, out: Pieces) -> Result<f64, EngineError> {
    let name = engine.name();
    let span = tracing::info_span!(
        "synthesize",
        otel.name = format!("synthesize {name}"),
        otel.status_code = Empty,
        orator.engine = name,
        orator.voice = %request.voice,
        orator.characters = request.text.chars().count(),
        orator.audio_seconds = Empty,
    );
    let mut running = Running::start(name, span.clone());
    let start = Instant::now();
    let (tx, mut rx) = mpsc::channel::<crate::Piece>(1);
    // Counts what passes; a closed `out` ends the forwarding, which closes the engine's
    // channel and so stops the engine.
    let forward = async {
        let mut audio = 0.0;
        while let Some(piece) = rx.recv().await {
            audio += piece.pcm.duration_seconds();
            if out.send(piece).await.is_err() {
                break;
            }
        }
        audio
    };
    let (result, audio) = tokio::join!(engine.synthesize_stream(request, tx).instrument(span.clone()), forward);
    running.finished = true;
    drop(running);
    let elapsed = start.elapsed().as_secs_f64();
    match &result {
        Ok(()) => {
            span.record("orator.audio_seconds", audio);
            metrics::histogram!(DURATION, "engine" => name, "voice" => base_voice(&request.voice)).record(elapsed);
            if audio > 0.0 {
                metrics::histogram!(REAL_TIME_FACTOR, "engine" => name, "voice" => base_voice(&request.voice))
                    .record(elapsed / audio);
            }
        }
        Err(e) => {
            metrics::counter!(ERRORS, "engine" => name).increment(1);
            span.record("otel.status_code", "ERROR");
            span.in_scope(|| tracing::warn!(exception.message = %e, "synthesis failed"));
        }
    }
    result.map(|()| audio)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VoiceInfo;
    use std::time::Duration;

    /// Never finishes.
    struct Stuck;

    #[async_trait::async_trait]
    impl Synthesizer for Stuck {
        fn name(&self) -> &'static str {
            "stuck"
        }
        fn voices(&self) -> &[VoiceInfo] {
            &[]
        }
        async fn synthesize_stream(&self, _req: &SynthesisRequest, _out: Pieces) -> Result<(), EngineError> {
            std::future::pending().await
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_synthesis_dropped_by_its_timeout_leaves_the_gauge_and_counts_an_error() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let request = SynthesisRequest {
            text: "hello".into(),
            voice: "x".into(),
            speed: 1.0,
            max_duration: None,
        };
        for _ in 0..3 {
            let (out, _keep) = mpsc::channel(1);
            let timed_out = tokio::time::timeout(Duration::from_millis(5), synthesize(&Stuck, &request, out)).await;
            assert!(timed_out.is_err());
        }
        let text = handle.render();
        assert!(
            text.contains(r#"orator_inference_in_progress{engine="stuck"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"orator_inference_errors_total{engine="stuck"} 3"#),
            "{text}"
        );
    }
}
