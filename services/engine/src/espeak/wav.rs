//! Reading the WAV stream `espeak-ng --stdout` writes.

use crate::{EngineError, Pcm};

/// Bytes of header before the samples, with room to spare (espeak-ng writes 44).
pub(crate) const HEADER_SLACK: usize = 256;

/// The sample rate in the `fmt ` chunk of a WAV stream's start, once that much has arrived.
pub(crate) fn sample_rate(bytes: &[u8]) -> Option<u32> {
    let head = &bytes[..bytes.len().min(HEADER_SLACK)];
    let at = head.windows(4).position(|w| w == b"fmt ")?;
    let rate = head.get(at + 12..at + 16)?;
    Some(u32::from_le_bytes([rate[0], rate[1], rate[2], rate[3]]))
}

/// Turn espeak-ng's stdout into samples.
///
/// espeak-ng writes the header before it knows the length, so the RIFF and data sizes are
/// placeholders (0x7ffff000): the data chunk is taken to run to the end of the stream. The
/// sample rate is read from the header rather than assumed, as it belongs to the voice.
pub(crate) fn parse_stream(bytes: &[u8]) -> Result<Pcm, EngineError> {
    if bytes.is_empty() {
        // espeak-ng writes no header at all when it had nothing to say.
        return Err(EngineError::EmptyOutput);
    }
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header"));
    }
    let mut pos = 12usize;
    let mut sample_rate = None;
    loop {
        let header = bytes.get(pos..pos + 8).ok_or_else(|| bad("no data chunk"))?;
        let id = &header[0..4];
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let body = pos + 8;
        match id {
            b"fmt " => {
                let fmt = bytes.get(body..body + 16).ok_or_else(|| bad("truncated fmt chunk"))?;
                let tag = u16::from_le_bytes([fmt[0], fmt[1]]);
                let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
                if tag != 1 || channels != 1 || bits != 16 || rate == 0 {
                    return Err(bad(&format!(
                        "expected mono 16-bit PCM, got format {tag}, {channels} channel(s), \
                         {bits} bits, {rate} Hz"
                    )));
                }
                sample_rate = Some(rate);
            }
            b"data" => {
                let sample_rate = sample_rate.ok_or_else(|| bad("data chunk before fmt chunk"))?;
                let samples: Vec<i16> = bytes[body.min(bytes.len())..]
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                // Whitespace-only text yields a few milliseconds of digital silence.
                if samples.iter().all(|&s| s == 0) {
                    return Err(EngineError::EmptyOutput);
                }
                return Ok(Pcm { samples, sample_rate });
            }
            _ => {}
        }
        // RIFF chunks are padded to an even length.
        pos = body
            .checked_add(size)
            .and_then(|p| p.checked_add(size & 1))
            .ok_or_else(|| bad("chunk size overflows"))?;
    }
}

fn bad(what: &str) -> EngineError {
    EngineError::BadOutput(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(rate: u32, channels: u16, bits: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0x7fff_f024u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0x7fff_f000u32.to_le_bytes());
        h
    }

    #[test]
    fn reads_samples_past_the_placeholder_size_and_takes_the_header_rate() {
        let mut bytes = header(16_000, 1, 16);
        assert_eq!(bytes.len(), 44);
        for s in [1i16, -2, 300, i16::MIN] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        bytes.push(7); // a torn last byte is dropped, not misread
        let pcm = parse_stream(&bytes).unwrap();
        assert_eq!(pcm.sample_rate, 16_000);
        assert_eq!(pcm.samples, vec![1, -2, 300, i16::MIN]);
    }

    #[test]
    fn empty_header_only_and_silent_streams_are_empty_output() {
        assert!(matches!(parse_stream(&[]), Err(EngineError::EmptyOutput)));
        let mut bytes = header(22_050, 1, 16);
        assert!(matches!(parse_stream(&bytes), Err(EngineError::EmptyOutput)));
        bytes.extend_from_slice(&[0; 308]);
        assert!(matches!(parse_stream(&bytes), Err(EngineError::EmptyOutput)));
    }

    #[test]
    fn rejects_non_wav_and_non_mono_s16() {
        assert!(matches!(
            parse_stream(b"Usage: espeak-ng [options] [words]"),
            Err(EngineError::BadOutput(_))
        ));
        let mut stereo = header(22_050, 2, 16);
        stereo.extend_from_slice(&[0; 8]);
        assert!(matches!(parse_stream(&stereo), Err(EngineError::BadOutput(_))));
        let mut eight_bit = header(22_050, 1, 8);
        eight_bit.extend_from_slice(&[0; 8]);
        assert!(matches!(parse_stream(&eight_bit), Err(EngineError::BadOutput(_))));
    }
}
