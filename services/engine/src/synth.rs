//! The engine-neutral synthesis interface.

use crate::{EngineError, Pcm, VoiceInfo};

/// What to synthesise (already validated by the caller).
#[derive(Debug, Clone)]
pub struct SynthesisRequest {
    /// Text to speak, UTF-8.
    pub text: String,
    /// Engine voice id, or anything [`Synthesizer::resolve_voice`] accepts.
    pub voice: String,
    /// Speaking rate, 0.25..=4.0, 1.0 = normal.
    pub speed: f32,
    /// Longest audio to produce: past it the engine stops and fails with
    /// [`EngineError::TooLong`](crate::EngineError::TooLong). `None` means no bound.
    pub max_duration: Option<std::time::Duration>,
}

/// A text-to-speech engine.
#[async_trait::async_trait]
pub trait Synthesizer: Send + Sync + 'static {
    /// Short engine name, e.g. `espeak-ng`.
    fn name(&self) -> &'static str;

    /// Voices the engine offers.
    fn voices(&self) -> &[VoiceInfo];

    /// Resolve an engine voice id or an OpenAI alias to the engine voice id (None if unknown).
    ///
    /// The default matches ids and aliases case-insensitively; engines whose aliases carry more
    /// than a voice id (espeak-ng variants) override it.
    fn resolve_voice(&self, name: &str) -> Option<String> {
        let wanted = name.trim();
        self.voices()
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(wanted) || v.aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted)))
            .map(|v| v.id.clone())
    }

    /// Speak `req.text` and return the samples.
    async fn synthesize(&self, req: &SynthesisRequest) -> Result<Pcm, EngineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<VoiceInfo>);

    #[async_trait::async_trait]
    impl Synthesizer for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn voices(&self) -> &[VoiceInfo] {
            &self.0
        }
        async fn synthesize(&self, _req: &SynthesisRequest) -> Result<Pcm, EngineError> {
            Err(EngineError::EmptyOutput)
        }
    }

    #[test]
    fn default_resolution_uses_ids_and_aliases() {
        let engine = Fixed(vec![VoiceInfo {
            id: "en-us".into(),
            name: "English (America)".into(),
            language: "en-us".into(),
            gender: Some("male".into()),
            aliases: vec!["alloy".into()],
            sample_rate: 22_050,
        }]);
        assert_eq!(engine.resolve_voice("en-us").as_deref(), Some("en-us"));
        assert_eq!(engine.resolve_voice(" EN-US ").as_deref(), Some("en-us"));
        assert_eq!(engine.resolve_voice("Alloy").as_deref(), Some("en-us"));
        assert_eq!(engine.resolve_voice("de"), None);
    }
}
