//! What callers see of an engine's voices.

/// One engine voice.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VoiceInfo {
    /// Engine voice id, unique within the engine (for espeak-ng the language tag, e.g. `en-us`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Language tag the voice speaks.
    pub language: String,
    /// `male` or `female` when the engine says.
    pub gender: Option<String>,
    /// Other names (OpenAI voice names) that resolve to this voice, possibly with a variant.
    pub aliases: Vec<String>,
    /// Samples per second of its audio.
    pub sample_rate: u32,
}

/// OpenAI's voice names, which every engine maps onto voices of its own.
pub const OPENAI_VOICES: [&str; 13] = [
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
];
