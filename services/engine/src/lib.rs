//! Text to audio bytes for Orator.
//!
//! This crate knows speech engines and audio codecs only: transport, queues and storage live in
//! the crates that call it. An engine ([`Synthesizer`]) turns text into mono 16-bit [`Pcm`];
//! [`encode`] turns that into the bytes of one [`AudioFormat`].

#![warn(missing_docs)]

mod encode;
mod engines;
mod error;
mod espeak;
mod format;
pub mod observed;
mod pcm;
pub mod piper;
pub mod sentences;
mod synth;
mod voice;

pub use encode::{Encoder, encode, encoder, output_sample_rate};
pub use engines::Engines;
pub use error::{EncodeError, EngineError};
pub use espeak::{EspeakConfig, EspeakEngine};
pub use format::{AudioFormat, UnknownFormat};
pub use pcm::Pcm;
pub use synth::{Piece, Pieces, SynthesisRequest, Synthesizer};
pub use voice::{OPENAI_VOICES, VoiceInfo};
