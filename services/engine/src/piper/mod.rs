//! Piper (VITS) voices run through ONNX Runtime, on CPU.
//!
//! The runtime is a shared library loaded at run time (`ort` with `load-dynamic`), so the
//! crate builds without it and a process without it still serves espeak-ng. Phonemes come
//! from espeak-ng as a subprocess, as for the espeak-ng engine: it stays a separate program.
//!
//! A process that only lists voices (the api) reads each voice's `.onnx.json`; one that
//! synthesises (the worker) then calls [`PiperEngine::load`], which creates a bounded pool
//! of sessions per voice and warms each one up.

mod phonemes;
mod pool;
mod voice;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::observed;
use crate::synth::send;
use crate::{EngineError, Pcm, Piece, Pieces, SynthesisRequest, Synthesizer, VoiceInfo, sentences};
use pool::Pool;
pub use voice::PiperVoice;

/// Longest piece of one sentence synthesised at once, in phoneme characters (about 13 s of
/// speech, some 400 MB of inference memory at its peak).
const MAX_PHONEMES: usize = 200;

/// The engine's name, as in `model` and in metric labels.
pub const NAME: &str = "piper";

/// Which voices to offer and how to speak.
#[derive(Debug, Clone)]
pub struct PiperConfig {
    /// `.onnx` files, each with its `.onnx.json` beside it.
    pub voices: Vec<PathBuf>,
    /// `(OpenAI name, voice id)` pairs; `None` maps every OpenAI name to the first voice.
    pub aliases: Option<Vec<(String, String)>>,
    /// espeak-ng, for phonemes.
    pub espeak_binary: PathBuf,
    /// Noise scales 0: the same text always gives the same samples (for tests).
    pub deterministic: bool,
}

/// Where ONNX Runtime is and how much of the machine it may use.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `libonnxruntime.so`.
    pub library: PathBuf,
    /// Sessions per voice: inferences that run at once.
    pub sessions: usize,
    /// Threads each inference uses.
    pub threads: usize,
}

/// Where the engine is in its life, for readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadState {
    /// Only the voice list is known (a process that does not synthesise).
    NotLoaded,
    /// Sessions are being created and warmed up.
    Loading,
    /// Every voice can speak.
    Ready,
    /// Loading failed; the message names the file at fault.
    Failed(String),
}

enum State {
    NotLoaded,
    Loading,
    Ready(Arc<Vec<Pool>>),
    Failed(String),
}

/// The Piper engine: neural voices at each model's own sample rate.
pub struct PiperEngine {
    espeak: PathBuf,
    voices: Vec<PiperVoice>,
    infos: Vec<VoiceInfo>,
    deterministic: bool,
    state: RwLock<State>,
}

impl std::fmt::Debug for PiperEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PiperEngine")
            .field("voices", &self.infos)
            .finish_non_exhaustive()
    }
}

impl PiperEngine {
    /// Reads every voice's config; an error names the file that is missing or wrong.
    pub fn open(config: PiperConfig) -> Result<Self, EngineError> {
        if config.voices.is_empty() {
            return Err(EngineError::NoVoices);
        }
        let voices = config
            .voices
            .iter()
            .map(|path| PiperVoice::read(path))
            .collect::<Result<Vec<_>, _>>()?;
        let aliases = match config.aliases {
            Some(pairs) => {
                for (alias, id) in &pairs {
                    if !voices.iter().any(|v| &v.id == id) {
                        return Err(EngineError::UnknownVoice(format!("{id} (for {alias})")));
                    }
                }
                pairs
            }
            None => crate::OPENAI_VOICES
                .iter()
                .map(|alias| (alias.to_string(), voices[0].id.clone()))
                .collect(),
        };
        let infos = voices
            .iter()
            .map(|v| {
                let names = aliases
                    .iter()
                    .filter(|(_, id)| id == &v.id)
                    .map(|(alias, _)| alias.to_ascii_lowercase())
                    .collect();
                v.info(names)
            })
            .collect();
        Ok(Self {
            espeak: config.espeak_binary,
            voices,
            infos,
            deterministic: config.deterministic,
            state: RwLock::new(State::NotLoaded),
        })
    }

    /// Loads ONNX Runtime and creates `runtime.sessions` warmed-up sessions per voice.
    /// Until it returns, syntheses fail as unavailable; after a failure they keep failing
    /// with its message, and [`PiperEngine::state`] says why.
    pub async fn load(&self, runtime: RuntimeConfig) -> Result<(), EngineError> {
        *self.state.write().expect("not poisoned") = State::Loading;
        for v in &self.voices {
            observed::model_announce(NAME, &v.id, &v.language, v.sample_rate, &v.model);
        }
        let result = self.load_pools(runtime).await;
        let mut state = self.state.write().expect("not poisoned");
        match result {
            Ok(pools) => {
                *state = State::Ready(Arc::new(pools));
                observed::register(NAME, pool::runtime_version());
                Ok(())
            }
            Err(e) => {
                *state = State::Failed(e.to_string());
                metrics::gauge!(observed::UP, "engine" => NAME).set(0.0);
                Err(e)
            }
        }
    }

    async fn load_pools(&self, runtime: RuntimeConfig) -> Result<Vec<Pool>, EngineError> {
        let environment = {
            let library = runtime.library.clone();
            tokio::task::spawn_blocking(move || pool::environment(&library))
                .await
                .map_err(|e| EngineError::Inference(e.to_string()))??
        };
        let mut pools = Vec::with_capacity(self.voices.len());
        for voice in &self.voices {
            let started = Instant::now();
            let (env, model, sessions, threads) = (
                environment.clone(),
                voice.model.clone(),
                runtime.sessions,
                runtime.threads,
            );
            let pool = tokio::task::spawn_blocking(move || Pool::open(&env, &model, sessions, threads))
                .await
                .map_err(|e| EngineError::Inference(e.to_string()))??;
            observed::model_loaded(NAME, &voice.id, started.elapsed());
            // The first run of each session allocates its buffers: pay for it here, not in
            // the first requests.
            let started = Instant::now();
            let phonemes = self.phonemize(voice, "Warming up.").await?;
            let ids = phonemes::ids(voice, &phonemes);
            pool.warm_up(ids, self.scales(voice, 1.0), voice.num_speakers).await?;
            observed::model_ready(NAME, &voice.id, started.elapsed());
            tracing::info!(
                engine = NAME,
                voice = %voice.id,
                sessions,
                threads,
                "model loaded and warmed up"
            );
            pools.push(pool);
        }
        Ok(pools)
    }

    /// Where loading stands.
    pub fn state(&self) -> LoadState {
        match &*self.state.read().expect("not poisoned") {
            State::NotLoaded => LoadState::NotLoaded,
            State::Loading => LoadState::Loading,
            State::Ready(_) => LoadState::Ready,
            State::Failed(message) => LoadState::Failed(message.clone()),
        }
    }

    fn pools(&self) -> Result<Arc<Vec<Pool>>, EngineError> {
        match &*self.state.read().expect("not poisoned") {
            State::Ready(pools) => Ok(pools.clone()),
            State::NotLoaded => Err(EngineError::Unavailable(
                "the piper models are not loaded in this process".into(),
            )),
            State::Loading => Err(EngineError::Unavailable("the piper models are still loading".into())),
            State::Failed(message) => Err(EngineError::Unavailable(format!(
                "the piper models failed to load: {message}"
            ))),
        }
    }

    /// One sentence's phonemes, in a `phonemize` span, timed in the phonemisation metric.
    async fn phonemize(&self, voice: &PiperVoice, sentence: &str) -> Result<String, EngineError> {
        let span = tracing::info_span!(
            "phonemize",
            otel.name = "phonemize",
            orator.characters = sentence.chars().count()
        );
        let started = Instant::now();
        let phonemes = phonemes::phonemize(&self.espeak, &voice.espeak_voice, sentence)
            .instrument(span)
            .await?;
        observed::phonemized(NAME, started.elapsed());
        Ok(phonemes)
    }

    /// `[noise_scale, length_scale, noise_w]` for a speed (1.0 = the voice's own pace).
    fn scales(&self, voice: &PiperVoice, speed: f32) -> [f32; 3] {
        let speed = if speed.is_finite() { speed.clamp(0.25, 4.0) } else { 1.0 };
        let (noise, noise_w) = if self.deterministic {
            (0.0, 0.0)
        } else {
            (voice.noise_scale, voice.noise_w)
        };
        [noise, voice.length_scale / speed, noise_w]
    }
}

#[async_trait::async_trait]
impl Synthesizer for PiperEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn voices(&self) -> &[VoiceInfo] {
        &self.infos
    }

    async fn synthesize_stream(&self, req: &SynthesisRequest, out: Pieces) -> Result<(), EngineError> {
        let id = self
            .resolve_voice(&req.voice)
            .ok_or_else(|| EngineError::UnknownVoice(req.voice.clone()))?;
        let index = self.voices.iter().position(|v| v.id == id).expect("resolved");
        let voice = &self.voices[index];
        let pools = self.pools()?;
        let pool = &pools[index];
        let scales = self.scales(voice, req.speed);
        let rate = voice.sample_rate;
        let limit = req.max_duration.map(|d| (d.as_secs_f64() * f64::from(rate)) as usize);
        let too_long = || EngineError::TooLong(req.max_duration.expect("limit set"));
        let mut produced = 0;
        for (number, sentence) in sentences::split(&req.text).into_iter().enumerate() {
            let text = &req.text[sentence.range.clone()];
            let span = tracing::info_span!(
                "sentence",
                otel.name = "synthesize sentence",
                orator.sentence = number,
                orator.characters = text.chars().count(),
            );
            let samples = self.sentence(voice, pool, scales, text).instrument(span).await?;
            // Trailing silence only: espeak-ng found nothing to say.
            if samples.iter().all(|&s| s == 0) {
                continue;
            }
            let speech = samples.len();
            let mut samples = samples;
            samples.resize(speech + silence(sentence.pause, rate), 0);
            produced += samples.len();
            if limit.is_some_and(|limit| produced > limit) {
                return Err(too_long());
            }
            let piece = Piece {
                pcm: Pcm {
                    samples,
                    sample_rate: rate,
                },
                text: sentence.range,
                speech,
            };
            send(&out, piece).await?;
        }
        if produced == 0 {
            return Err(EngineError::EmptyOutput);
        }
        Ok(())
    }
}

impl PiperEngine {
    /// One sentence's speech, inferred in chunks of at most [`MAX_PHONEMES`].
    async fn sentence(
        &self,
        voice: &PiperVoice,
        pool: &Pool,
        scales: [f32; 3],
        text: &str,
    ) -> Result<Vec<i16>, EngineError> {
        let phonemes = self.phonemize(voice, text).await?;
        let mut samples = Vec::new();
        for piece in phonemes::chunks(&phonemes, MAX_PHONEMES) {
            let ids = phonemes::ids(voice, piece);
            // BOS, pad and EOS alone: espeak-ng found nothing to say.
            if ids.len() <= 3 {
                continue;
            }
            let audio = pool.infer(ids, scales, voice.num_speakers).await?;
            to_i16(&audio, &mut samples);
        }
        Ok(samples)
    }
}

fn silence(pause: Duration, rate: u32) -> usize {
    (pause.as_secs_f64() * f64::from(rate)) as usize
}

/// Floats in [-1, 1] to 16-bit samples, scaled so that the loudest sample is near full
/// scale, as Piper does for each utterance (its models' output level varies).
fn to_i16(audio: &[f32], out: &mut Vec<i16>) {
    let peak = audio
        .iter()
        .fold(0.0f32, |m, s| if s.is_finite() { m.max(s.abs()) } else { m });
    let scale = 32767.0 / peak.max(0.01);
    out.extend(audio.iter().map(|s| {
        let s = if s.is_finite() { *s } else { 0.0 };
        (s * scale).clamp(-32768.0, 32767.0) as i16
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_normalised_to_full_scale() {
        let mut out = Vec::new();
        to_i16(&[0.0, 0.25, -0.5, f32::NAN], &mut out);
        assert_eq!(out, [0, 16383, -32767, 0]);
        out.clear();
        // Near-silence is not blown up to full scale.
        to_i16(&[0.001], &mut out);
        assert_eq!(out, [3276]);
    }
}
