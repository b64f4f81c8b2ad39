//! AAC-LC in ADTS frames, by the Fraunhofer FDK AAC library (vendored by `fdk-aac`).

use fdk_aac::enc::{AudioObjectType, BitRate, ChannelMode, Encoder, EncoderParams, Transport};

use crate::{EncodeError, Pcm};

/// Samples per AAC-LC frame.
const FRAME: usize = 1024;
/// Silence appended so the encoder's look-ahead (two frames) reaches the last real sample:
/// the crate cannot send FDK's end-of-stream flush. It adds ~140 ms at 22,050 Hz.
const TAIL: usize = 3 * FRAME;

pub(super) fn encode(pcm: &Pcm) -> Result<Vec<u8>, EncodeError> {
    let fail = |e: fdk_aac::enc::EncoderError| EncodeError::codec("aac", e);
    let encoder = Encoder::new(EncoderParams {
        bit_rate: BitRate::VbrMedium,
        sample_rate: pcm.sample_rate,
        transport: Transport::Adts,
        channels: ChannelMode::Mono,
        audio_object_type: AudioObjectType::Mpeg4LowComplexity,
    })
    .map_err(fail)?;
    let mut samples = Vec::with_capacity(pcm.samples.len() + TAIL);
    samples.extend_from_slice(&pcm.samples);
    samples.resize(pcm.samples.len() + TAIL, 0);
    let mut out = Vec::with_capacity(samples.len() / 8);
    // 6,144 bits per channel is AAC's largest frame.
    let mut frame = vec![0u8; 8 * 1024];
    let mut rest = &samples[..];
    while !rest.is_empty() {
        let info = encoder
            .encode(&rest[..rest.len().min(FRAME)], &mut frame)
            .map_err(fail)?;
        out.extend_from_slice(&frame[..info.output_size]);
        if info.input_consumed == 0 {
            return Err(EncodeError::codec("aac", "the encoder took no input"));
        }
        rest = &rest[info.input_consumed.min(rest.len())..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_start_with_the_adts_sync_word() {
        let pcm = Pcm {
            samples: (0..22_050).map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16).collect(),
            sample_rate: 22_050,
        };
        let bytes = encode(&pcm).unwrap();
        assert!(bytes.len() > 1000, "{} bytes", bytes.len());
        assert_eq!((bytes[0], bytes[1] & 0xf0), (0xff, 0xf0), "ADTS sync word");
    }
}
