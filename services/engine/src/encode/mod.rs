//! PCM to the bytes of an [`AudioFormat`], incrementally: an [`Encoder`] takes samples as an
//! engine produces them and gives back whatever bytes of the container are complete, so a
//! stream can start before the synthesis ends. Encoding a whole [`Pcm`] at once is the same
//! encoder fed once, so streamed and stored bytes are the same bytes.

mod aac;
mod flac;
mod mp3;
mod opus;
mod pcm;
mod wav;

use crate::{AudioFormat, EncodeError, Pcm};

/// A container being written: feed samples with [`push`](Encoder::push), end it with
/// [`finish`](Encoder::finish). The concatenation of every returned piece is the file.
pub trait Encoder: Send {
    /// Adds samples; returns the bytes that are complete now (possibly none).
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError>;
    /// Ends the stream; returns the remaining bytes.
    fn finish(&mut self) -> Result<Vec<u8>, EncodeError>;
}

/// An encoder for mono 16-bit PCM at `sample_rate` into `format`.
pub fn encoder(format: AudioFormat, sample_rate: u32) -> Result<Box<dyn Encoder>, EncodeError> {
    if sample_rate == 0 {
        return Err(EncodeError::UnsupportedSampleRate(0));
    }
    Ok(match format {
        AudioFormat::Mp3 => Box::new(mp3::Mp3::new(sample_rate)?),
        AudioFormat::Opus => Box::new(opus::Opus::new(sample_rate)?),
        AudioFormat::Aac => Box::new(aac::Aac::new(sample_rate)?),
        AudioFormat::Flac => Box::new(flac::Flac::new(sample_rate)?),
        AudioFormat::Wav => Box::new(wav::Wav::new(sample_rate)),
        AudioFormat::Pcm => Box::new(pcm::Raw),
    })
}

/// Encode PCM into the requested format. CPU-bound: callers run it in spawn_blocking.
pub fn encode(pcm: &Pcm, format: AudioFormat) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = encoder(format, pcm.sample_rate)?;
    let mut out = encoder.push(&pcm.samples)?;
    out.extend(encoder.finish()?);
    Ok(out)
}

/// Sample rate the encoded bytes of `format` carry for a given PCM input (opus output is 48000 or whatever you resample to; others = input rate).
///
/// MP3 keeps the input rate whenever MPEG allows it (8 kHz to 48 kHz family rates, which
/// covers every espeak-ng voice) and otherwise names the rate LAME is told to produce.
pub fn output_sample_rate(pcm_rate: u32, format: AudioFormat) -> u32 {
    match format {
        AudioFormat::Opus => opus::OUTPUT_RATE,
        AudioFormat::Mp3 => mp3::output_rate(pcm_rate),
        AudioFormat::Aac | AudioFormat::Flac | AudioFormat::Wav | AudioFormat::Pcm => pcm_rate,
    }
}

/// Takes whole blocks of `size` samples off the front of `pending`, leaving the rest.
fn blocks(
    pending: &mut Vec<i16>,
    size: usize,
    mut each: impl FnMut(&[i16]) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let whole = pending.len() / size * size;
    for block in pending[..whole].chunks(size) {
        each(block)?;
    }
    pending.drain(..whole);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_rates() {
        for format in [AudioFormat::Wav, AudioFormat::Flac, AudioFormat::Pcm] {
            assert_eq!(output_sample_rate(22_050, format), 22_050);
            assert_eq!(output_sample_rate(16_000, format), 16_000);
        }
        assert_eq!(output_sample_rate(22_050, AudioFormat::Opus), 48_000);
        assert_eq!(output_sample_rate(22_050, AudioFormat::Mp3), 22_050);
        assert_eq!(output_sample_rate(20_000, AudioFormat::Mp3), 22_050);
        assert_eq!(output_sample_rate(96_000, AudioFormat::Mp3), 48_000);
    }

    #[test]
    fn zero_rate_is_rejected_for_every_format() {
        let pcm = Pcm {
            samples: vec![0; 100],
            sample_rate: 0,
        };
        for format in AudioFormat::ALL {
            assert!(matches!(
                encode(&pcm, format),
                Err(EncodeError::UnsupportedSampleRate(0))
            ));
        }
    }

    #[test]
    fn empty_pcm_still_makes_a_valid_container() {
        let pcm = Pcm {
            samples: Vec::new(),
            sample_rate: 22_050,
        };
        for format in AudioFormat::ALL {
            let bytes = encode(&pcm, format).unwrap_or_else(|e| panic!("{format}: {e}"));
            if format != AudioFormat::Pcm {
                assert!(!bytes.is_empty(), "{format}");
            }
        }
    }

    #[test]
    fn bytes_come_out_as_samples_go_in() {
        // Two seconds in four pushes: every container has bytes out before it is finished.
        let samples: Vec<i16> = (0..44_100).map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16).collect();
        for format in AudioFormat::ALL {
            let mut encoder = encoder(format, 22_050).unwrap();
            let mut early = 0;
            for part in samples.chunks(11_025) {
                early += encoder.push(part).unwrap().len();
            }
            let rest = encoder.finish().unwrap().len();
            assert!(early > 0, "{format}: nothing before finish");
            assert!(early > rest, "{format}: {early} bytes early, {rest} at the end");
        }
    }
}
