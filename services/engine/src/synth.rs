//! The engine-neutral synthesis interface.

use std::ops::Range;

use tokio::sync::mpsc;

use crate::{EngineError, Pcm, VoiceInfo};

/// One sentence's audio, handed over as soon as it is synthesised.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// The samples: the sentence's speech, then the pause after it.
    pub pcm: Pcm,
    /// The sentence's byte range in the request's original text.
    pub text: Range<usize>,
    /// Samples of speech at the start of `pcm`; the rest is the pause.
    pub speech: usize,
}

/// Where an engine sends its pieces; a dropped receiver stops the synthesis.
pub type Pieces = mpsc::Sender<Piece>;

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

    /// Speak `req.text` sentence by sentence, sending each sentence's audio to `out` in
    /// order as soon as it is ready. Fails with [`EngineError::Closed`] once `out` is closed.
    async fn synthesize_stream(&self, req: &SynthesisRequest, out: Pieces) -> Result<(), EngineError>;

    /// Speak `req.text` and return all of its samples.
    async fn synthesize(&self, req: &SynthesisRequest) -> Result<Pcm, EngineError> {
        let (tx, mut rx) = mpsc::channel::<Piece>(4);
        let collect = async {
            let mut pcm: Option<Pcm> = None;
            while let Some(piece) = rx.recv().await {
                match &mut pcm {
                    Some(pcm) => pcm.samples.extend_from_slice(&piece.pcm.samples),
                    None => pcm = Some(piece.pcm),
                }
            }
            pcm
        };
        let (result, pcm) = tokio::join!(self.synthesize_stream(req, tx), collect);
        result?;
        pcm.ok_or(EngineError::EmptyOutput)
    }
}

/// Sends a piece, or fails with [`EngineError::Closed`] when nobody takes it any more.
pub(crate) async fn send(out: &Pieces, piece: Piece) -> Result<(), EngineError> {
    out.send(piece).await.map_err(|_| EngineError::Closed)
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
        async fn synthesize_stream(&self, _req: &SynthesisRequest, _out: Pieces) -> Result<(), EngineError> {
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
