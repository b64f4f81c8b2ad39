//! Domain types. Each newtype rejects bad input once, at the edge, so the rest of the code
//! can trust what it holds.

use orator_engine::{AudioFormat, Engines, Synthesizer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Input that breaks a rule; `param` names the request field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    /// The field at fault.
    pub param: &'static str,
    /// What is wrong, for a human.
    pub message: String,
    /// Machine-readable reason.
    pub code: &'static str,
    /// Whether the request broke its documented form or was well-formed but cannot be spoken.
    pub fault: Fault,
}

/// The two ways input can be wrong, which a client (and the OpenAPI document) tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request breaks the documented schema (type, length, range, characters).
    Malformed,
    /// The request fits the schema but cannot be served: nothing in it can become speech,
    /// or its fields do not go together (a voice of another model's engine).
    Unprocessable,
}

impl InvalidInput {
    /// A field that breaks the documented schema.
    pub fn new(param: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            param,
            code,
            message: message.into(),
            fault: Fault::Malformed,
        }
    }
}

/// Text to speak: not blank, at most the configured number of characters.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechText(String);

impl SpeechText {
    /// Accepts `text` when it has content, at most `max_chars` characters and no control
    /// characters other than tab and line breaks (PostgreSQL text cannot even hold NUL).
    pub fn parse(text: String, max_chars: usize) -> Result<Self, InvalidInput> {
        if text.trim().is_empty() {
            return Err(InvalidInput::new("input", "empty_input", "input must not be empty"));
        }
        if let Some((at, c)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            return Err(InvalidInput::new(
                "input",
                "invalid_characters",
                format!(
                    "input holds the control character U+{:04X} at character {at}; only tab and line breaks are allowed",
                    u32::from(c)
                ),
            ));
        }
        // Punctuation, symbols and invisible characters alone make no sound: refusing them
        // here beats three engine attempts that each end in silence.
        if !text.chars().any(char::is_alphanumeric) {
            return Err(InvalidInput {
                fault: Fault::Unprocessable,
                ..InvalidInput::new(
                    "input",
                    "no_speakable_text",
                    "input holds no letters or digits, so there is nothing to speak",
                )
            });
        }
        let chars = text.chars().count();
        if chars > max_chars {
            return Err(InvalidInput::new(
                "input",
                "input_too_long",
                format!("input is {chars} characters; the limit is {max_chars}"),
            ));
        }
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in characters.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// Hex SHA-256 of the text: logged and stored instead of the text itself.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// Playback speed, 0.25 to 4.0 (OpenAI's range); 1.0 is normal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed(f32);

impl Speed {
    /// Slowest accepted speed.
    pub const MIN: f32 = 0.25;
    /// Fastest accepted speed.
    pub const MAX: f32 = 4.0;

    /// Accepts a finite speed within range; `None` means 1.0.
    pub fn parse(speed: Option<f64>) -> Result<Self, InvalidInput> {
        let s = speed.unwrap_or(1.0);
        if !s.is_finite() || s < f64::from(Self::MIN) || s > f64::from(Self::MAX) {
            return Err(InvalidInput::new(
                "speed",
                "invalid_speed",
                format!("speed must be between {} and {}, got {s}", Self::MIN, Self::MAX),
            ));
        }
        Ok(Self(s as f32))
    }

    /// The value.
    pub fn get(self) -> f32 {
        self.0
    }
}

/// An engine voice, resolved from an engine id or an OpenAI alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    id: String,
    label: String,
}

impl Voice {
    /// Resolves `name` through the engine's catalogue.
    pub fn parse(name: &str, engine: &dyn Synthesizer) -> Result<Self, InvalidInput> {
        let id = engine.resolve_voice(name).ok_or_else(|| {
            InvalidInput::new(
                "voice",
                "unknown_voice",
                format!("unknown voice {name:?}; GET /v1/audio/voices lists the voices"),
            )
        })?;
        let lower = name.to_ascii_lowercase();
        let is_alias = engine.voices().iter().any(|v| v.aliases.contains(&lower));
        let label = if is_alias {
            lower
        } else {
            id.split('+').next().unwrap_or(&id).to_owned()
        };
        Ok(Self { id, label })
    }

    /// The engine voice id.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// A bounded metric label: the OpenAI name when one was asked for, else the engine
    /// voice without its variant.
    pub fn label(&self) -> &str {
        &self.label
    }
}

/// OpenAI model names and the engines that may serve each, best first: the first one
/// configured in this process serves it, unless `ORATOR_MODEL_ENGINES` says otherwise.
pub const OPENAI_MODELS: [(&str, &[&str]); 4] = [
    ("tts-1", &["espeak-ng", "piper"]),
    ("tts-1-hd", &["piper", "espeak-ng"]),
    ("gpt-4o-mini-tts", &["piper", "espeak-ng"]),
    ("gpt-4o-mini-tts-2025-12-15", &["piper", "espeak-ng"]),
];

/// Dated model names that follow their model's mapping unless mapped themselves.
const DATED: [(&str, &str); 1] = [("gpt-4o-mini-tts-2025-12-15", "gpt-4o-mini-tts")];

/// The models this process serves: OpenAI's names, each served by an engine, and the
/// engines' own names.
#[derive(Debug, Clone)]
pub struct Models {
    engines: Engines,
    overrides: Vec<(String, &'static str)>,
}

impl Models {
    /// The default mapping over `engines`, with `overrides` (OpenAI model, engine) on top;
    /// an override naming an unknown model or an engine not configured is an error.
    pub fn new(engines: Engines, overrides: &[(String, String)]) -> Result<Self, String> {
        let mut checked = Vec::new();
        for (model, engine) in overrides {
            if !OPENAI_MODELS.iter().any(|(m, _)| m == model) {
                return Err(format!("{model:?} is not an OpenAI model name"));
            }
            let engine = engines
                .get(engine)
                .ok_or_else(|| format!("engine {engine:?} (for {model}) is not configured"))?;
            checked.push((model.clone(), engine.name()));
        }
        Ok(Self {
            engines,
            overrides: checked,
        })
    }

    /// The engines behind the models.
    pub fn engines(&self) -> &Engines {
        &self.engines
    }

    fn engine_for(&self, name: &str) -> Option<&'static str> {
        let overridden = |model: &str| self.overrides.iter().find(|(m, _)| m == model).map(|(_, e)| *e);
        if let Some(engine) = overridden(name) {
            return Some(engine);
        }
        if let Some((_, parent)) = DATED.iter().find(|(dated, _)| *dated == name)
            && let Some(engine) = overridden(parent)
        {
            return Some(engine);
        }
        match OPENAI_MODELS.iter().find(|(model, _)| *model == name) {
            Some((_, candidates)) => candidates.iter().find_map(|c| self.engines.get(c)).map(|e| e.name()),
            None => self.engines.get(name).map(|e| e.name()),
        }
    }

    /// Model names this process accepts: the OpenAI ones with an engine to serve them, then
    /// the engines' own names.
    pub fn names(&self) -> Vec<&'static str> {
        OPENAI_MODELS
            .iter()
            .map(|(model, _)| *model)
            .filter(|model| self.engine_for(model).is_some())
            .chain(self.engines.iter().map(|e| e.name()))
            .collect()
    }
}

/// A model name (an OpenAI TTS model or an engine name) and the engine that serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    name: String,
    engine: &'static str,
}

impl Model {
    /// Accepts an OpenAI model name or the name of a configured engine.
    pub fn parse(name: &str, models: &Models) -> Result<Self, InvalidInput> {
        match models.engine_for(name) {
            Some(engine) => Ok(Self {
                name: name.to_owned(),
                engine,
            }),
            None => Err(InvalidInput::new(
                "model",
                "unknown_model",
                format!("unknown model {name:?}; GET /v1/models lists the models"),
            )),
        }
    }

    /// The name asked for.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The engine that serves it.
    pub fn engine(&self) -> &'static str {
        self.engine
    }
}

/// Parses a response format name.
pub fn parse_format(name: Option<&str>) -> Result<AudioFormat, InvalidInput> {
    // OpenAI's default is mp3.
    name.unwrap_or("mp3")
        .parse()
        .map_err(|e: orator_engine::UnknownFormat| {
            InvalidInput::new("response_format", "unknown_format", e.to_string())
        })
}

/// A validated request for speech: everything needed to synthesise and to cache it.
#[derive(Debug, Clone)]
pub struct SpeechSpec {
    /// Requested model.
    pub model: Model,
    /// Engine that will synthesise it.
    pub engine: String,
    /// Engine voice.
    pub voice: Voice,
    /// Output format.
    pub format: AudioFormat,
    /// Speed.
    pub speed: Speed,
    /// Text.
    pub text: SpeechText,
}

impl SpeechSpec {
    /// Content address of the audio: the same inputs always give the same bytes.
    pub fn cache_key(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            self.engine.as_str(),
            self.voice.as_str(),
            self.format.as_str(),
            &format!("{:.3}", self.speed.get()),
            self.text.as_str(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }
}

/// Lifecycle of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting in the outbox or the queue.
    Queued,
    /// A worker is synthesising it.
    Running,
    /// Audio is ready.
    Succeeded,
    /// Gave up after the configured attempts.
    Failed,
    /// Canceled by its owner before it ran.
    Canceled,
    /// A sync job whose caller had given up before a worker reached it; never synthesised.
    Expired,
}

impl JobStatus {
    /// Every status, for gauges.
    pub const ALL: [JobStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Canceled,
        Self::Expired,
    ];

    /// Database and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }

    /// True once the job will not change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Canceled | Self::Expired)
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown job status {s:?}"))
    }
}

/// How the caller waits for the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobMode {
    /// `POST /v1/audio/speech`: the request waits.
    Sync,
    /// `POST /v1/jobs`: the caller polls.
    Async,
}

impl JobMode {
    /// Database and label name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalogue-only engine with a name: enough for model mapping.
    struct Named(&'static str);

    #[async_trait::async_trait]
    impl Synthesizer for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn voices(&self) -> &[orator_engine::VoiceInfo] {
            &[]
        }
        async fn synthesize_stream(
            &self,
            _: &orator_engine::SynthesisRequest,
            _: orator_engine::Pieces,
        ) -> Result<(), orator_engine::EngineError> {
            Err(orator_engine::EngineError::EmptyOutput)
        }
    }

    fn engines(names: &[&'static str]) -> Engines {
        Engines::new(
            names
                .iter()
                .map(|n| std::sync::Arc::new(Named(n)) as std::sync::Arc<dyn Synthesizer>),
        )
    }

    fn engine_of(models: &Models, name: &str) -> Option<&'static str> {
        Model::parse(name, models).ok().map(|m| m.engine())
    }

    #[test]
    fn models_map_to_the_best_configured_engine_unless_told_otherwise() {
        let espeak_only = Models::new(engines(&["espeak-ng"]), &[]).unwrap();
        assert_eq!(engine_of(&espeak_only, "tts-1-hd"), Some("espeak-ng"));
        assert_eq!(engine_of(&espeak_only, "piper"), None);
        assert_eq!(
            espeak_only.names(),
            [
                "tts-1",
                "tts-1-hd",
                "gpt-4o-mini-tts",
                "gpt-4o-mini-tts-2025-12-15",
                "espeak-ng"
            ]
        );

        let both = Models::new(engines(&["espeak-ng", "piper"]), &[]).unwrap();
        assert_eq!(engine_of(&both, "tts-1"), Some("espeak-ng"));
        assert_eq!(engine_of(&both, "tts-1-hd"), Some("piper"));
        assert_eq!(engine_of(&both, "gpt-4o-mini-tts-2025-12-15"), Some("piper"));
        assert_eq!(engine_of(&both, "gpt-4"), None);

        // An override, which the dated alias follows.
        let told = Models::new(
            engines(&["espeak-ng", "piper"]),
            &[("gpt-4o-mini-tts".into(), "espeak-ng".into())],
        )
        .unwrap();
        assert_eq!(engine_of(&told, "gpt-4o-mini-tts"), Some("espeak-ng"));
        assert_eq!(engine_of(&told, "gpt-4o-mini-tts-2025-12-15"), Some("espeak-ng"));
        assert_eq!(engine_of(&told, "tts-1-hd"), Some("piper"));

        let unknown_model = Models::new(engines(&["espeak-ng"]), &[("gpt-5".into(), "espeak-ng".into())]);
        assert!(unknown_model.unwrap_err().contains("gpt-5"));
        let missing_engine = Models::new(engines(&["espeak-ng"]), &[("tts-1-hd".into(), "piper".into())]);
        assert!(missing_engine.unwrap_err().contains("piper"));
    }

    #[test]
    fn text_rules() {
        assert_eq!(SpeechText::parse("  ".into(), 10).unwrap_err().param, "input");
        for bad in ["a\u{0}b", "bell\u{7}", "del\u{7f}", "c1\u{85}"] {
            let err = SpeechText::parse(bad.into(), 100).unwrap_err();
            assert_eq!((err.param, err.code), ("input", "invalid_characters"), "{bad:?}");
        }
        assert!(SpeechText::parse("two\nlines\r\n\tand a tab".into(), 100).is_ok());
        for silent in ["...", "\u{200b}\u{200b}", "[[]]", "?!", "\u{2014}"] {
            let err = SpeechText::parse(silent.into(), 100).unwrap_err();
            assert_eq!((err.param, err.code), ("input", "no_speakable_text"), "{silent:?}");
        }
        for speakable in ["7", "ok.", "日本", "Ελλάδα"] {
            assert!(SpeechText::parse(speakable.into(), 100).is_ok(), "{speakable:?}");
        }
        assert_eq!(SpeechText::parse("héllo".into(), 5).unwrap().chars(), 5);
        assert_eq!(
            SpeechText::parse("héllo!".into(), 5).unwrap_err().code,
            "input_too_long"
        );
    }

    #[test]
    fn speed_rules() {
        assert_eq!(Speed::parse(None).unwrap().get(), 1.0);
        assert!(Speed::parse(Some(0.25)).is_ok());
        assert!(Speed::parse(Some(4.0)).is_ok());
        for bad in [0.2, 4.01, f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(Speed::parse(Some(bad)).unwrap_err().param, "speed", "{bad}");
        }
    }

    #[test]
    fn formats() {
        assert_eq!(parse_format(None).unwrap(), AudioFormat::Mp3);
        assert_eq!(parse_format(Some("flac")).unwrap(), AudioFormat::Flac);
        assert_eq!(parse_format(Some("aiff")).unwrap_err().param, "response_format");
    }
}
