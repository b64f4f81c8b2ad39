//! PCM to the bytes of an [`AudioFormat`].

mod aac;
mod flac;
mod mp3;
mod opus;
mod pcm;
mod wav;

use crate::{AudioFormat, EncodeError, Pcm};

/// Encode PCM into the requested format. CPU-bound: callers run it in spawn_blocking.
pub fn encode(pcm: &Pcm, format: AudioFormat) -> Result<Vec<u8>, EncodeError> {
    if pcm.sample_rate == 0 {
        return Err(EncodeError::UnsupportedSampleRate(0));
    }
    match format {
        AudioFormat::Mp3 => mp3::encode(pcm),
        AudioFormat::Opus => opus::encode(pcm),
        AudioFormat::Aac => aac::encode(pcm),
        AudioFormat::Flac => flac::encode(pcm),
        AudioFormat::Wav => wav::encode(pcm),
        AudioFormat::Pcm => Ok(pcm::encode(pcm)),
    }
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
}
