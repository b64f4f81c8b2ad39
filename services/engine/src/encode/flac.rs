//! FLAC through flacenc (pure Rust), frame by frame. The STREAMINFO header goes out first,
//! so its total-samples and MD5 fields say "unknown" (0), as the format allows for streams.

use flacenc::component::{BitRepr, Stream, StreamInfo};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Fill, FrameBuf};

use super::{Encoder, blocks};
use crate::EncodeError;

/// flacenc's smallest buffer; a shorter last block is a partly filled one.
const MIN_BLOCK: usize = 32;

fn failed(e: impl std::fmt::Display) -> EncodeError {
    EncodeError::codec("FLAC", e.to_string())
}

/// A FLAC stream: header, then one frame per block of samples.
pub(super) struct Flac {
    config: Verified<config::Encoder>,
    info: StreamInfo,
    header: Option<Vec<u8>>,
    pending: Vec<i16>,
    frames: usize,
}

impl Flac {
    pub(super) fn new(sample_rate: u32) -> Result<Self, EncodeError> {
        let config = config::Encoder::default().into_verified().map_err(|(_, e)| failed(e))?;
        let block = config.block_size;
        let mut stream = Stream::new(sample_rate as usize, 1, 16).map_err(failed)?;
        stream.stream_info_mut().set_block_sizes(block, block).map_err(failed)?;
        let info = stream.stream_info().clone();
        Ok(Self {
            config,
            info,
            header: Some(bytes_of(&stream)?),
            pending: Vec::new(),
            frames: 0,
        })
    }

    fn frame(&mut self, samples: &[i16], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut buffer = FrameBuf::with_size(1, samples.len().max(MIN_BLOCK)).map_err(failed)?;
        let wide: Vec<i32> = samples.iter().map(|&s| i32::from(s)).collect();
        buffer.fill_interleaved(&wide).map_err(failed)?;
        let frame = flacenc::encode_fixed_size_frame(&self.config, &buffer, self.frames, &self.info).map_err(failed)?;
        self.frames += 1;
        out.extend(bytes_of(&frame)?);
        Ok(())
    }
}

fn bytes_of(part: &impl BitRepr) -> Result<Vec<u8>, EncodeError> {
    let mut sink = flacenc::bitsink::ByteSink::new();
    part.write(&mut sink).map_err(failed)?;
    Ok(sink.into_inner())
}

impl Encoder for Flac {
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.header.take().unwrap_or_default();
        self.pending.extend_from_slice(samples);
        let mut pending = std::mem::take(&mut self.pending);
        let size = self.config.block_size;
        blocks(&mut pending, size, |block| self.frame(block, &mut out))?;
        self.pending = pending;
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.header.take().unwrap_or_default();
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.frame(&rest, &mut out)?;
        }
        Ok(out)
    }
}
