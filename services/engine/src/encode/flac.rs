//! FLAC through flacenc (pure Rust).

use flacenc::component::BitRepr;
use flacenc::error::Verify;

use crate::{EncodeError, Pcm};

pub(super) fn encode(pcm: &Pcm) -> Result<Vec<u8>, EncodeError> {
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| EncodeError::codec("FLAC", e))?;
    let samples: Vec<i32> = pcm.samples.iter().map(|&s| i32::from(s)).collect();
    let source = flacenc::source::MemSource::from_samples(&samples, 1, 16, pcm.sample_rate as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| EncodeError::codec("FLAC", e))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| EncodeError::codec("FLAC", e))?;
    Ok(sink.into_inner())
}
