//! MP3 through LAME (bundled by mp3lame-encoder; LGPL, linked statically).

use std::num::NonZeroU32;

use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality};

use crate::{EncodeError, Pcm};

/// Rates MPEG-1, 2 and 2.5 Layer III can carry.
const MPEG_RATES: [u32; 9] = [8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000];

/// Samples handed to LAME per call, which keeps its output buffer (and `c_int` lengths) small.
const CHUNK: usize = 1 << 16;

/// The rate LAME is told to write: the input rate when MPEG has it, else the next one up.
pub(super) fn output_rate(pcm_rate: u32) -> u32 {
    MPEG_RATES.into_iter().find(|&r| r >= pcm_rate).unwrap_or(48_000)
}

pub(super) fn encode(pcm: &Pcm) -> Result<Vec<u8>, EncodeError> {
    let fail = |e: mp3lame_encoder::BuildError| EncodeError::codec("MP3", e);
    let fail_encode = |e: mp3lame_encoder::EncodeError| EncodeError::codec("MP3", e);
    let mut builder = Builder::new().ok_or_else(|| fail_text("cannot allocate a LAME encoder"))?;
    builder.set_num_channels(1).map_err(fail)?;
    builder.set_mode(Mode::Mono).map_err(fail)?;
    builder.set_sample_rate(pcm.sample_rate).map_err(fail)?;
    // Left to itself LAME lowers the rate at low bitrates (FACTS.md); the rate is part of what
    // `output_sample_rate` promises, so it is set explicitly.
    builder
        .set_output_sample_rate(NonZeroU32::new(output_rate(pcm.sample_rate)))
        .map_err(fail)?;
    // 64 kbps CBR is transparent enough for synthetic speech at 22 kHz and half of LAME's default.
    // LAME's preset for it scales the level by 0.95, which leaves headroom against clipping.
    builder.set_brate(Bitrate::Kbps64).map_err(fail)?;
    builder.set_quality(Quality::Good).map_err(fail)?;
    // The LAME tag carries encoder delay and padding so that players can trim them (gapless).
    builder.set_to_write_vbr_tag(true).map_err(fail)?;
    let mut encoder = builder.build().map_err(fail)?;

    let mut out = Vec::with_capacity(pcm.samples.len() / 4 + 8_192);
    for chunk in pcm.samples.chunks(CHUNK) {
        out.reserve(mp3lame_encoder::max_required_buffer_size(chunk.len()));
        encoder.encode_to_vec(MonoPcm(chunk), &mut out).map_err(fail_encode)?;
    }
    // LAME needs up to 7200 bytes to flush. FlushGap, because FlushNoGap drops the last ~1,500
    // samples (FACTS.md).
    out.reserve(7_200);
    encoder.flush_to_vec::<FlushGap>(&mut out).map_err(fail_encode)?;

    // LAME reserved the first frame for the tag while encoding and only knows its content now;
    // it goes over that frame, not in front of it (there is no ID3v2 tag before it).
    let mut tag = Vec::with_capacity(encoder.lame_tag_size());
    if let Some(len) = encoder.lame_tag_encode_to_vec(&mut tag) {
        let len = len.get();
        if len <= out.len() {
            out[..len].copy_from_slice(&tag[..len]);
        }
    }
    Ok(out)
}

fn fail_text(message: &str) -> EncodeError {
    EncodeError::codec("MP3", message)
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
