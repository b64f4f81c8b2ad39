//! Decoding what the service returns, with decoders independent of the encoders.

use std::io::Cursor;

use symphonia::core::{
    audio::SampleBuffer, codecs::DecoderOptions, formats::FormatOptions, io::MediaSourceStream, meta::MetadataOptions,
    probe::Hint,
};

/// What a decoded clip looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Samples per second.
    pub sample_rate: u32,
    /// Channels.
    pub channels: usize,
    /// Mono samples (first channel), as f32 in -1..1.
    pub samples: Vec<f32>,
}

impl Decoded {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Root mean square level (0 = silence).
    pub fn rms(&self) -> f64 {
        let sum: f64 = self.samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (sum / self.samples.len().max(1) as f64).sqrt()
    }
}

/// Decodes `bytes` of `format` (mp3, opus, flac, wav, or pcm at `pcm_rate`).
pub fn decode(format: &str, bytes: &[u8], pcm_rate: u32) -> Decoded {
    match format {
        "pcm" => {
            assert_eq!(bytes.len() % 2, 0, "pcm must be whole s16 samples");
            let samples = bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect();
            Decoded {
                sample_rate: pcm_rate,
                channels: 1,
                samples,
            }
        }
        "opus" => decode_ogg_opus(bytes),
        // symphonia 0.5 rejects flacenc's streams ("end of stream") that libFLAC, sox and
        // claxon all read, so FLAC goes through claxon.
        "flac" => decode_flac(bytes),
        other => decode_symphonia(other, bytes),
    }
}

fn decode_symphonia(ext: &str, bytes: &[u8]) -> Decoded {
    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let probed = symphonia::default::get_probe()
        .format(&hint, stream, &FormatOptions::default(), &MetadataOptions::default())
        .unwrap_or_else(|e| panic!("{ext}: not a valid container: {e}"));
    let mut format = probed.format;
    let track = format.default_track().expect("a track").clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("a decoder");
    let sample_rate = track.codec_params.sample_rate.expect("sample rate");
    let mut channels = 0;
    let mut samples = Vec::new();
    while let Ok(packet) = format.next_packet() {
        let decoded = decoder
            .decode(&packet)
            .unwrap_or_else(|e| panic!("{ext}: undecodable packet: {e}"));
        let spec = *decoded.spec();
        channels = spec.channels.count();
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        samples.extend(buf.samples().iter().step_by(channels));
    }
    Decoded {
        sample_rate,
        channels,
        samples,
    }
}

fn decode_flac(bytes: &[u8]) -> Decoded {
    let mut reader = claxon::FlacReader::new(Cursor::new(bytes)).expect("a valid FLAC stream");
    let info = reader.streaminfo();
    assert_eq!(info.bits_per_sample, 16);
    let channels = info.channels as usize;
    let samples: Vec<f32> = reader
        .samples()
        .step_by(channels)
        .map(|s| s.expect("FLAC frame") as f32 / 32768.0)
        .collect();
    Decoded {
        sample_rate: info.sample_rate,
        channels,
        samples,
    }
}

fn decode_ogg_opus(bytes: &[u8]) -> Decoded {
    let mut reader = ogg::PacketReader::new(Cursor::new(bytes));
    let head = reader.read_packet().expect("ogg").expect("OpusHead packet");
    assert!(head.data.starts_with(b"OpusHead"), "first packet is not OpusHead");
    let channels = head.data[9] as usize;
    let pre_skip = u16::from_le_bytes([head.data[10], head.data[11]]) as usize;
    let tags = reader.read_packet().expect("ogg").expect("OpusTags packet");
    assert!(tags.data.starts_with(b"OpusTags"), "second packet is not OpusTags");
    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).expect("opus decoder");
    let mut samples = Vec::new();
    let mut last_granule = 0;
    let mut buf = vec![0f32; 5760];
    while let Some(packet) = reader.read_packet().expect("ogg page") {
        let n = decoder
            .decode_float(&packet.data, &mut buf, false)
            .expect("opus packet");
        samples.extend_from_slice(&buf[..n]);
        last_granule = packet.absgp_page();
    }
    // The last granule position gives the exact length; the decoder's output is padded.
    let length = (last_granule as usize).saturating_sub(pre_skip);
    let samples: Vec<f32> = samples.into_iter().skip(pre_skip).take(length).collect();
    Decoded {
        sample_rate: 48_000,
        channels,
        samples,
    }
}
