//! Why a job ended without audio, as callers see it: a stable code and a message that is
//! safe to show. What the engine or a dependency actually said stays in the worker's logs.

use std::time::Duration;

/// A job's terminal failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobFailure {
    /// The engine failed on every attempt.
    EngineFailed,
    /// Synthesis ran past its time limit on every attempt.
    TimedOut,
    /// The audio would be longer than the configured cap.
    AudioTooLong(Duration),
    /// The text produced no sound at all.
    NoSpeech,
    /// Claimed more often than allowed: earlier attempts ended with their worker.
    AttemptsExhausted,
    /// Its worker vanished and the sweeper gave up on it.
    Abandoned,
    /// The sync caller stopped waiting before synthesis started.
    Expired,
    /// A stored job this version cannot read (format unknown).
    Unprocessable,
}

impl JobFailure {
    /// Machine-readable code, stored with the job and shown to the caller.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EngineFailed => "engine_failed",
            Self::TimedOut => "synthesis_timeout",
            Self::AudioTooLong(_) => "audio_too_long",
            Self::NoSpeech => "no_speech",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::Abandoned => "abandoned",
            Self::Expired => "expired",
            Self::Unprocessable => "unprocessable",
        }
    }

    /// A message for the caller: what happened and what to do, no internals.
    pub fn message(&self) -> String {
        match self {
            Self::EngineFailed => "the speech engine failed on every attempt".into(),
            Self::TimedOut => "synthesis took longer than allowed on every attempt".into(),
            Self::AudioTooLong(max) => format!(
                "the audio would be longer than {} s; send shorter input or a higher speed",
                max.as_secs()
            ),
            Self::NoSpeech => "the input produced no speech; send words to speak".into(),
            Self::AttemptsExhausted => "the job was attempted too often; its workers stopped during synthesis".into(),
            Self::Abandoned => "the job's worker stopped and it ran out of attempts".into(),
            Self::Expired => "the caller stopped waiting before synthesis started".into(),
            Self::Unprocessable => "the job cannot be processed by this version".into(),
        }
    }

    /// True when another attempt cannot succeed: the input itself is the cause.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::AudioTooLong(_) | Self::NoSpeech | Self::Unprocessable)
    }

    /// True when the caller's input is at fault (a 4xx for a sync request).
    pub fn is_input_error(&self) -> bool {
        matches!(self, Self::AudioTooLong(_) | Self::NoSpeech)
    }
}

/// A failure as stored: the code and message read back from a job row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StoredFailure {
    /// Stable code (`engine_failed`, `audio_too_long`, `no_speech`, …).
    pub code: String,
    /// For a human.
    pub message: String,
}

impl StoredFailure {
    /// True when the caller's input is at fault.
    pub fn is_input_error(&self) -> bool {
        matches!(self.code.as_str(), "audio_too_long" | "no_speech")
    }
}

impl From<&JobFailure> for StoredFailure {
    fn from(f: &JobFailure) -> Self {
        Self {
            code: f.code().into(),
            message: f.message(),
        }
    }
}
