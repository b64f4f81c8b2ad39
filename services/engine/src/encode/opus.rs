//! Opus in Ogg (RFC 7845), through libopus (bundled by the `opus` crate).

use ogg::writing::{PacketWriteEndInfo, PacketWriter};
use opus::{Application, Bitrate, Channels, Signal};
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use super::Encoder;
use crate::EncodeError;

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

/// An Opus encoder writing an Ogg page at the end of every push.
pub(super) struct Opus {
    encoder: opus::Encoder,
    writer: PacketWriter<'static, Vec<u8>>,
    input_rate: u32,
    pre_skip: usize,
    /// Resampled samples short of a frame.
    pending: Vec<f32>,
    /// 48 kHz samples taken in, for the final granule position.
    taken: usize,
    /// Frames encoded so far.
    frames: usize,
}

fn failed(e: opus::Error) -> EncodeError {
    EncodeError::codec("Opus", e)
}

fn io(e: std::io::Error) -> EncodeError {
    EncodeError::codec("Ogg", e)
}

impl Opus {
    pub(super) fn new(input_rate: u32) -> Result<Self, EncodeError> {
        let mut encoder = opus::Encoder::new(OUTPUT_RATE, Channels::Mono, Application::Audio).map_err(failed)?;
        encoder.set_bitrate(Bitrate::Bits(BITRATE)).map_err(failed)?;
        encoder.set_signal(Signal::Voice).map_err(failed)?;
        // The decoder's first `pre_skip` samples are the encoder's lookahead, not audio.
        let lookahead = encoder.get_lookahead().map_err(failed)?;
        let pre_skip = u16::try_from(lookahead)
            .map_err(|_| EncodeError::codec("Opus", format!("lookahead {lookahead} out of range")))?;
        let mut writer = PacketWriter::new(Vec::new());
        // RFC 7845: the ID header and the comment header each sit alone on their page.
        writer
            .write_packet(opus_head(pre_skip, input_rate), SERIAL, PacketWriteEndInfo::EndPage, 0)
            .map_err(io)?;
        writer
            .write_packet(opus_tags(), SERIAL, PacketWriteEndInfo::EndPage, 0)
            .map_err(io)?;
        Ok(Self {
            encoder,
            writer,
            input_rate,
            pre_skip: usize::from(pre_skip),
            pending: Vec::new(),
            taken: 0,
            frames: 0,
        })
    }

    /// Encodes whole frames of `pending`, all of it when `last` (zero-padded), the final
    /// one ending the page (or the stream).
    fn encode_frames(&mut self, last: bool) -> Result<(), EncodeError> {
        let count = if last {
            self.pending.len().div_ceil(FRAME).max(1)
        } else {
            self.pending.len() / FRAME
        };
        let mut frame = [0f32; FRAME];
        let mut packet = [0u8; MAX_PACKET];
        for i in 0..count {
            let start = (i * FRAME).min(self.pending.len());
            let end = ((i + 1) * FRAME).min(self.pending.len());
            frame.fill(0.0);
            frame[..end - start].copy_from_slice(&self.pending[start..end]);
            let len = self.encoder.encode_float(&frame, &mut packet).map_err(failed)?;
            self.frames += 1;
            let final_one = i + 1 == count;
            let (info, granule) = if final_one && last {
                // The end granule says where the audio stops inside the padded last frame.
                (PacketWriteEndInfo::EndStream, (self.taken + self.pre_skip) as u64)
            } else if final_one || self.frames.is_multiple_of(PACKETS_PER_PAGE) {
                (PacketWriteEndInfo::EndPage, (self.frames * FRAME) as u64)
            } else {
                (PacketWriteEndInfo::NormalPacket, (self.frames * FRAME) as u64)
            };
            self.writer
                .write_packet(packet[..len].to_vec(), SERIAL, info, granule)
                .map_err(io)?;
        }
        self.pending.drain(..(count * FRAME).min(self.pending.len()));
        Ok(())
    }

    fn written(&mut self) -> Vec<u8> {
        std::mem::take(self.writer.inner_mut())
    }
}

impl Encoder for Opus {
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError> {
        // Each push is resampled on its own: engines push whole sentences, which end in
        // silence, so the seams fall where there is nothing to smear.
        let audio = to_48k(samples, self.input_rate)?;
        self.taken += audio.len();
        self.pending.extend_from_slice(&audio);
        self.encode_frames(false)?;
        Ok(self.written())
    }

    fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        // Silence for the lookahead, so the last real samples come out of the encoder.
        self.pending.resize(self.pending.len() + self.pre_skip, 0.0);
        self.encode_frames(true)?;
        Ok(self.written())
    }
}

fn to_48k(samples: &[i16], rate: u32) -> Result<Vec<f32>, EncodeError> {
    let input: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    if rate == OUTPUT_RATE || input.is_empty() {
        return Ok(input);
    }
    let fail = |e: &dyn std::fmt::Display| EncodeError::codec("Opus resampling", e.to_string());
    // The FFT resampler is exact for a fixed ratio and much cheaper than sinc interpolation.
    let mut resampler =
        Fft::<f32>::new(rate as usize, OUTPUT_RATE as usize, 1_024, 1, FixedSync::Both).map_err(|e| fail(&e))?;
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
        let out = to_48k(&samples, 22_050).unwrap();
        assert!((out.len() as i64 - 48_000).abs() <= 1, "{}", out.len());
        let rms = (out[4_800..43_200].iter().map(|x| x * x).sum::<f32>() / 38_400.0).sqrt();
        let expected = 10_000.0 / 32_768.0 / 2f32.sqrt();
        assert!((rms - expected).abs() < expected * 0.02, "{rms} vs {expected}");
    }
}
