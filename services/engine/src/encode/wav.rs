//! WAV with a streaming header: the RIFF and data sizes are 0xFFFFFFFF ("unknown, read to
//! the end"), as OpenAI's streamed WAV and espeak-ng's `--stdout` do, because the header
//! goes out before the length is known.

use super::Encoder;
use crate::EncodeError;

/// Size fields of a stream whose length is unknown.
const UNKNOWN: u32 = u32::MAX;

/// A WAV stream; the header goes out with the first push.
pub(super) struct Wav {
    header: Option<[u8; 44]>,
}

impl Wav {
    pub(super) fn new(sample_rate: u32) -> Self {
        Self {
            header: Some(header(sample_rate)),
        }
    }

    fn take_header(&mut self) -> Vec<u8> {
        self.header.take().map(Vec::from).unwrap_or_default()
    }
}

/// The canonical 44-byte header for mono 16-bit PCM.
fn header(rate: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&UNKNOWN.to_le_bytes());
    h[8..16].copy_from_slice(b"WAVEfmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * 2).to_le_bytes()); // bytes per second
    h[32..34].copy_from_slice(&2u16.to_le_bytes()); // block align
    h[34..36].copy_from_slice(&16u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&UNKNOWN.to_le_bytes());
    h
}

impl Encoder for Wav {
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.take_header();
        out.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        Ok(out)
    }

    fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(self.take_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_first_then_samples() {
        let mut wav = Wav::new(22_050);
        let first = wav.push(&[1, 2]).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(&first[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(first[24..28].try_into().unwrap()), 22_050);
        assert_eq!(wav.push(&[3]).unwrap(), [3, 0]);
        assert!(wav.finish().unwrap().is_empty());
        assert_eq!(
            Wav::new(8_000).finish().unwrap().len(),
            44,
            "an empty stream is still a header"
        );
    }
}
