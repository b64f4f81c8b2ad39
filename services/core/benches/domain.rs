//! Hot paths of every speech request in `orator-core`: validating the request fields into
//! domain types, and the content address (SHA-256 cache key) that decides hit or miss.
//!
//! The voice catalogue is espeak-ng's real one (131 voices and the OpenAI aliases), so voice
//! resolution is measured against what the api resolves against; espeak-ng must be installed.
//!
//! Run: `cargo bench -p orator-core --bench domain`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use orator_core::domain::{Model, Models, SpeechSpec, SpeechText, Speed, Voice, parse_format};
use orator_engine::{Engines, EspeakConfig, EspeakEngine, Synthesizer};

/// Validates a request the way the speech and jobs handlers do.
fn spec(engines: &Engines, model: &str, voice: &str, format: &str, text: &str) -> SpeechSpec {
    let models = Models::new(engines.clone(), &[]).expect("no overrides");
    let model = Model::parse(model, &models).expect("model");
    let engine = engines.get(model.engine()).expect("configured");
    SpeechSpec {
        engine: engine.name().to_owned(),
        voice: Voice::parse(voice, engine.as_ref()).expect("voice"),
        model,
        format: parse_format(Some(format)).expect("format"),
        speed: Speed::parse(Some(1.0)).expect("speed"),
        text: SpeechText::parse(text.to_owned(), 4096).expect("text"),
    }
}

fn benches(c: &mut Criterion, engines: &Engines) {
    let engine = engines.get("espeak-ng").expect("configured").as_ref();
    let sentence = "Thank you for calling Orator. This is cached greeting number 3.";

    let mut group = c.benchmark_group("parse");
    group.bench_function("request_alias_voice", |b| {
        b.iter(|| {
            spec(
                engines,
                black_box("tts-1"),
                black_box("alloy"),
                black_box("mp3"),
                black_box(sentence),
            )
        })
    });
    // An engine id near the end of the catalogue: the linear lookups' worst case.
    group.bench_function("request_engine_voice", |b| {
        b.iter(|| {
            spec(
                engines,
                black_box("espeak-ng"),
                black_box("yue"),
                black_box("wav"),
                black_box(sentence),
            )
        })
    });
    group.bench_function("voice_alias", |b| b.iter(|| Voice::parse(black_box("nova"), engine)));
    group.bench_function("voice_unknown", |b| {
        b.iter(|| Voice::parse(black_box("no-such-voice"), engine))
    });
    group.finish();

    // The cache key grows with the text: a sentence, a paragraph, the 4,096-character limit.
    let mut group = c.benchmark_group("cache_key");
    for chars in [64usize, 512, 4096] {
        let text: String = sentence.chars().cycle().take(chars).collect();
        let spec = spec(engines, "tts-1", "alloy", "mp3", &text);
        group.throughput(Throughput::Bytes(chars as u64));
        group.bench_with_input(BenchmarkId::from_parameter(chars), &spec, |b, spec| {
            b.iter(|| black_box(spec).cache_key())
        });
    }
    group.finish();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = runtime
        .block_on(EspeakEngine::new(EspeakConfig::default()))
        .expect("espeak-ng must be installed to load its voice catalogue");
    let mut c = Criterion::default().configure_from_args();
    benches(
        &mut c,
        &Engines::new([std::sync::Arc::new(engine) as std::sync::Arc<dyn Synthesizer>]),
    );
    c.final_summary();
}
