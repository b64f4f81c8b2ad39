//! Opus in Ogg (RFC 7845), through libopus (bundled by the `opus` crate).

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opus::{Application, Bitrate, Channels, Signal};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::{EncodeError, Pcm};

/// Opus always runs at 48 kHz here; Ogg Opus granule positions count 48 kHz samples anyway.
pub(super) const OUTPUT_RATE: u32 = 48_000;

/// 20 ms at 48 kHz, Opus's usual frame.
const FRAME: usize = 960;

/// Packets per Ogg page: ~1 s of audio per page keeps seeking granular and overhead small.
const PACKETS_PER_PAGE: usize = 50;

/// Mono speech at 32 kbps is near transparent for Opus.
const BITRATE: i32 = 32_000;

/// A single-stream file never shares its serial with another stream, so any constant does.
const SERIAL: u32 = 0x4f52_4154; // "ORAT"

/// Upper bound for one encoded frame (RFC 6716 caps a packet at 1275 bytes per frame).
const MAX_PACKET: usize = 1_500;

pub(super) fn encode(pcm: &Pcm) -> Result<Vec<u8>, EncodeError> {
    let fail = |e: opus::Error| EncodeError::codec("Opus", e);
    let audio = to_48k(pcm)?;

    let mut encoder = opus::Encoder::new(OUTPUT_RATE, Channels::Mono, Application::Audio).map_err(fail)?;
    encoder.set_bitrate(Bitrate::Bits(BITRATE)).map_err(fail)?;
    encoder.set_signal(Signal::Voice).map_err(fail)?;
    // The decoder's first `pre_skip` samples are the encoder's lookahead, not audio.
    let lookahead = encoder.get_lookahead().map_err(fail)?;
    let pre_skip = u16::try_from(lookahead)
        .map_err(|_| EncodeError::codec("Opus", format!("lookahead {lookahead} out of range")))?;
    let pre_skip_len = usize::from(pre_skip);

    let mut writer = PacketWriter::new(Vec::with_capacity(audio.len() / 10 + 1_024));
    let io = |e: std::io::Error| EncodeError::codec("Ogg", e);
    // Both headers sit alone on their pages, as RFC 7845 requires.
    writer
        .write_packet(
            opus_head(pre_skip, pcm.sample_rate),
            SERIAL,
            PacketWriteEndInfo::EndPage,
            0,
        )
        .map_err(io)?;
    writer
        .write_packet(opus_tags(), SERIAL, PacketWriteEndInfo::EndPage, 0)
        .map_err(io)?;

    // Enough frames that the last real sample, delayed by the lookahead, comes out of the
    // decoder; the tail is zero padding that the final granule position trims off.
    let total = audio.len() + pre_skip_len;
    let frames = total.div_ceil(FRAME).max(1);
    let end_granule = total as u64;
    let mut frame = [0f32; FRAME];
    let mut packet = [0u8; MAX_PACKET];
    for i in 0..frames {
        let start = (i * FRAME).min(audio.len());
        let end = ((i + 1) * FRAME).min(audio.len());
        frame.fill(0.0);
        frame[..end - start].copy_from_slice(&audio[start..end]);
        let len = encoder.encode_float(&frame, &mut packet).map_err(fail)?;
        let last = i + 1 == frames;
        let (info, granule) = if last {
            (PacketWriteEndInfo::EndStream, end_granule)
        } else if (i + 1) % PACKETS_PER_PAGE == 0 {
            (PacketWriteEndInfo::EndPage, ((i + 1) * FRAME) as u64)
        } else {
            (PacketWriteEndInfo::NormalPacket, ((i + 1) * FRAME) as u64)
        };
        writer
            .write_packet(packet[..len].to_vec(), SERIAL, info, granule)
            .map_err(io)?;
    }
    Ok(writer.into_inner())
}

/// The PCM as 48 kHz floats in -1..1.
fn to_48k(pcm: &Pcm) -> Result<Vec<f32>, EncodeError> {
    let input: Vec<f32> = pcm.samples.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    if pcm.sample_rate == OUTPUT_RATE || input.is_empty() {
        return Ok(input);
    }
    let fail = |e: &dyn std::fmt::Display| EncodeError::codec("Opus resampling", e.to_string());
    // The FFT resampler is exact for a fixed ratio and much cheaper than sinc interpolation.
    let mut resampler = Fft::<f32>::new(
        pcm.sample_rate as usize,
        OUTPUT_RATE as usize,
        1_024,
        1,
        FixedSync::Both,
    )
    .map_err(|e| fail(&e))?;
    let adapter = InterleavedSlice::new(&input, 1, input.len()).map_err(|e| fail(&e))?;
    // process_all trims the resampler's own delay, so sample 0 stays sample 0.
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| fail(&e))?;
    Ok(output.take_data())
}

/// RFC 7845 section 5.1 identification header.
fn opus_head(pre_skip: u16, input_rate: u32) -> Vec<u8> {
    let mut head = Vec::with_capacity(19);
    head.extend_from_slice(b"OpusHead");
    head.push(1); // version
    head.push(1); // channels
    head.extend_from_slice(&pre_skip.to_le_bytes());
    // Informational only: lets a decoder offer the original rate back.
    head.extend_from_slice(&input_rate.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // channel mapping family: mono/stereo
    head
}

/// RFC 7845 section 5.2 comment header, with a vendor string and no comments.
fn opus_tags() -> Vec<u8> {
    let vendor = concat!("orator-engine ", env!("CARGO_PKG_VERSION"), " (libopus)");
    let mut tags = Vec::with_capacity(8 + 4 + vendor.len() + 4);
    tags.extend_from_slice(b"OpusTags");
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor.as_bytes());
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_layout() {
        let head = opus_head(312, 22_050);
        assert_eq!(head.len(), 19);
        assert_eq!(&head[..8], b"OpusHead");
        assert_eq!(head[8], 1);
        assert_eq!(head[9], 1);
        assert_eq!(u16::from_le_bytes([head[10], head[11]]), 312);
        assert_eq!(u32::from_le_bytes([head[12], head[13], head[14], head[15]]), 22_050);
        assert_eq!(&head[16..], [0, 0, 0]);
    }

    #[test]
    fn resampling_keeps_duration_and_level() {
        // One second of a 440 Hz tone at 22,050 Hz.
        let samples: Vec<i16> = (0..22_050)
            .map(|i| {
                let t = i as f32 / 22_050.0;
                (10_000.0 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()) as i16
            })
            .collect();
        let out = to_48k(&Pcm {
            samples,
            sample_rate: 22_050,
        })
        .unwrap();
        assert!((out.len() as i64 - 48_000).abs() <= 1, "{}", out.len());
        let rms = (out[4_800..43_200].iter().map(|x| x * x).sum::<f32>() / 38_400.0).sqrt();
        let expected = 10_000.0 / 32_768.0 / 2f32.sqrt();
        assert!((rms - expected).abs() < expected * 0.02, "{rms} vs {expected}");
    }
}
