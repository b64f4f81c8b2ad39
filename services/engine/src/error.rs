//! Failure types.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a speech engine could not start or could not speak.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The engine binary could not be started (missing, not executable, ...).
    #[error("cannot run speech engine `{}`: {source}", binary.display())]
    Spawn {
        /// Program that was started.
        binary: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Talking to the engine process failed.
    #[error("i/o with the speech engine failed: {0}")]
    Io(#[from] std::io::Error),
    /// The engine ran but exited unsuccessfully.
    #[error("speech engine failed ({status}): {stderr}")]
    Failed {
        /// Exit status of the process.
        status: ExitStatus,
        /// What it printed on stderr, trimmed.
        stderr: String,
    },
    /// The engine printed something this crate cannot read.
    #[error("speech engine output not understood: {0}")]
    BadOutput(String),
    /// The engine produced no samples, or only silence (empty or whitespace-only text).
    #[error("speech engine produced no audio")]
    EmptyOutput,
    /// The audio would be longer than the request allows; the engine was stopped.
    #[error("the audio would be longer than {0:?}")]
    TooLong(std::time::Duration),
    /// The requested voice is not one of the engine's voices or aliases.
    #[error("unknown voice `{0}`")]
    UnknownVoice(String),
    /// The engine lists no usable voice.
    #[error("speech engine offers no voices")]
    NoVoices,
    /// The engine refused the request for a reason of its own (e.g. an injected fault).
    #[error("speech engine unavailable: {0}")]
    Unavailable(String),
    /// A model or runtime file is missing or unusable; the path names it.
    #[error("{}: {message}", path.display())]
    Model {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The inference runtime failed on a request.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The engine's concurrency limiter was closed.
    #[error("speech engine is shut down")]
    Closed,
}

/// Why PCM could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The PCM's sample rate is zero or out of the codec's reach.
    #[error("cannot encode audio at a sample rate of {0} Hz")]
    UnsupportedSampleRate(u32),
    /// The codec library reported an error.
    #[error("{codec} encoding failed: {message}")]
    Codec {
        /// Which format was being produced.
        codec: &'static str,
        /// The library's message (kept as text so its types stay out of this API).
        message: String,
    },
}

impl EncodeError {
    pub(crate) fn codec(codec: &'static str, err: impl std::fmt::Display) -> Self {
        EncodeError::Codec {
            codec,
            message: err.to_string(),
        }
    }
}
