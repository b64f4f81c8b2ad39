//! MP3 through LAME (bundled by mp3lame-encoder; LGPL, linked statically).

use std::num::NonZeroU32;

use mp3lame_encoder::{Bitrate, Builder, Encoder as Lame, FlushGap, Mode, MonoPcm, Quality};

use super::Encoder;
use crate::EncodeError;

/// Rates MPEG-1, 2 and 2.5 Layer III can carry.
const MPEG_RATES: [u32; 9] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];

/// Samples handed to LAME per call, which keeps its output buffer (and `c_int` lengths) small.
const CHUNK: usize = 1 << 16;

/// The rate LAME is told to write: the input rate when MPEG has it, else the next one up.
pub(super) fn output_rate(pcm_rate: u32) -> u32 {
    MPEG_RATES.into_iter().find(|&r| r >= pcm_rate).unwrap_or(48_000)
}

/// A LAME encoder writing 64 kbps CBR frames as they fill.
pub(super) struct Mp3(Lame);

impl Mp3 {
    pub(super) fn new(sample_rate: u32) -> Result<Self, EncodeError> {
        let fail = |e: mp3lame_encoder::BuildError| EncodeError::codec("MP3", e);
        let mut builder = Builder::new().ok_or_else(|| EncodeError::codec("MP3", "cannot allocate a LAME encoder"))?;
        builder.set_num_channels(1).map_err(fail)?;
        builder.set_mode(Mode::Mono).map_err(fail)?;
        builder.set_sample_rate(sample_rate).map_err(fail)?;
        // Left to itself LAME lowers the rate at low bitrates (it picks 16 kHz for 22,050 Hz
        // input at 64 kbps); the rate is part of what `output_sample_rate` promises.
        builder
            .set_output_sample_rate(NonZeroU32::new(output_rate(sample_rate)))
            .map_err(fail)?;
        // 64 kbps CBR is transparent enough for synthetic speech at 22 kHz and half of LAME's
        // default. LAME's preset for it scales the level by 0.95, which leaves headroom.
        builder.set_brate(Bitrate::Kbps64).map_err(fail)?;
        builder.set_quality(Quality::Good).map_err(fail)?;
        // No LAME tag: LAME fills it in only at the end, over the first frame, which a stream
        // has long sent. CBR frames give players the duration without it.
        builder.set_to_write_vbr_tag(false).map_err(fail)?;
        Ok(Self(builder.build().map_err(fail)?))
    }
}

fn failed(e: mp3lame_encoder::EncodeError) -> EncodeError {
    EncodeError::codec("MP3", e)
}

impl Encoder for Mp3 {
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        for chunk in samples.chunks(CHUNK) {
            out.reserve(mp3lame_encoder::max_required_buffer_size(chunk.len()));
            self.0.encode_to_vec(MonoPcm(chunk), &mut out).map_err(failed)?;
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        // LAME needs up to 7200 bytes to flush. FlushGap, because FlushNoGap drops the last
        // ~1,500 samples (the partial frame it would have padded).
        let mut out = Vec::with_capacity(7_200);
        self.0.flush_to_vec::<FlushGap>(&mut out).map_err(failed)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_rate_keeps_mpeg_rates() {
        for rate in MPEG_RATES {
            assert_eq!(output_rate(rate), rate);
        }
        assert_eq!(output_rate(1), 8_000);
        assert_eq!(output_rate(22_051), 24_000);
        assert_eq!(output_rate(192_000), 48_000);
    }
}
