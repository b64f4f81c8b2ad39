//! AAC-LC in ADTS frames, by the Fraunhofer FDK AAC library (vendored by `fdk-aac`). Each
//! ADTS frame stands alone, so frames can go out as soon as they are encoded.

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder as Fdk, EncoderParams, Transport};

use super::{Encoder, blocks};
use crate::EncodeError;

/// Samples per AAC-LC frame.
const FRAME: usize = 1024;
/// Silence appended so the encoder's look-ahead (two frames) reaches the last real sample:
/// the crate cannot send FDK's end-of-stream flush. It adds ~140 ms at 22,050 Hz.
const TAIL: usize = 3 * FRAME;

/// An AAC encoder and the samples short of a frame.
pub(super) struct Aac {
    fdk: Fdk,
    pending: Vec<i16>,
}

fn failed(e: fdk_aac::enc::EncoderError) -> EncodeError {
    EncodeError::codec("aac", e)
}

impl Aac {
    pub(super) fn new(sample_rate: u32) -> Result<Self, EncodeError> {
        let fdk = Fdk::new(EncoderParams {
            bit_rate: BitRate::VbrMedium,
            sample_rate,
            transport: Transport::Adts,
            channels: ChannelMode::Mono,
            audio_object_type: AudioObjectType::Mpeg4LowComplexity,
        })
        .map_err(failed)?;
        Ok(Self {
            fdk,
            pending: Vec::new(),
        })
    }

    fn frame(fdk: &Fdk, samples: &[i16], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut buffer = [0u8; 8 * 1024];
        let mut rest = samples;
        while !rest.is_empty() {
            let info = fdk.encode(rest, &mut buffer).map_err(failed)?;
            out.extend_from_slice(&buffer[..info.output_size]);
            if info.input_consumed == 0 {
                return Err(EncodeError::codec("aac", "the encoder took no input"));
            }
            rest = &rest[info.input_consumed.min(rest.len())..];
        }
        Ok(())
    }
}

impl Encoder for Aac {
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError> {
        self.pending.extend_from_slice(samples);
        let mut out = Vec::new();
        let fdk = &self.fdk;
        blocks(&mut self.pending, FRAME, |frame| Self::frame(fdk, frame, &mut out))?;
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        let mut rest = std::mem::take(&mut self.pending);
        rest.resize(rest.len() + TAIL, 0);
        let mut out = Vec::new();
        for frame in rest.chunks(FRAME) {
            Self::frame(&self.fdk, frame, &mut out)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_start_with_the_adts_sync_word() {
        let samples: Vec<i16> = (0..22_050).map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16).collect();
        let mut aac = Aac::new(22_050).unwrap();
        let mut bytes = aac.push(&samples).unwrap();
        bytes.extend(aac.finish().unwrap());
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
        assert_eq!((bytes[0], bytes[1] & 0xf0), (0xff, 0xf0), "ADTS sync word");
    }
}
