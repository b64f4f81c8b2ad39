//! Fault injection as an engine decorator: delays and failures happen inside the
//! synthesis, so the inference metrics, spans and alerts see them as real ones would be.

use std::{sync::Arc, time::Duration};

use orator_core::faults::{FaultSwitch, roll};
use orator_engine::{EngineError, Pieces, SynthesisRequest, Synthesizer, VoiceInfo};

/// Wraps an engine and applies the faults in force to each synthesis.
pub struct Faulty {
    inner: Arc<dyn Synthesizer>,
    faults: FaultSwitch,
}

impl Faulty {
    /// `inner`, subject to `faults`.
    pub fn new(inner: Arc<dyn Synthesizer>, faults: FaultSwitch) -> Self {
        Self { inner, faults }
    }
}

#[async_trait::async_trait]
impl Synthesizer for Faulty {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn voices(&self) -> &[VoiceInfo] {
        self.inner.voices()
    }

    fn resolve_voice(&self, name: &str) -> Option<String> {
        self.inner.resolve_voice(name)
    }

    async fn synthesize_stream(&self, request: &SynthesisRequest, out: Pieces) -> Result<(), EngineError> {
        let faults = self.faults.get();
        if roll(faults.worker_delay_ratio) {
            tokio::time::sleep(Duration::from_millis(faults.worker_delay_ms)).await;
        }
        if roll(faults.worker_fail_ratio) {
            return Err(EngineError::Unavailable(
                "injected fault: synthesis failed on purpose".into(),
            ));
        }
        self.inner.synthesize_stream(request, out).await
    }
}
