//! The output formats a caller can ask for.

use std::fmt;
use std::str::FromStr;

/// Output container/codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    /// MPEG-1/2 Layer III.
    Mp3,
    /// Opus in an Ogg container.
    Opus,
    /// AAC-LC in ADTS frames.
    Aac,
    /// Free Lossless Audio Codec.
    Flac,
    /// RIFF WAVE with 16-bit PCM.
    Wav,
    /// Raw signed 16-bit little-endian samples, no header.
    Pcm,
}

impl AudioFormat {
    /// Every format, in the order the OpenAI speech API lists them.
    pub const ALL: [AudioFormat; 6] = [
        AudioFormat::Mp3,
        AudioFormat::Opus,
        AudioFormat::Aac,
        AudioFormat::Flac,
        AudioFormat::Wav,
        AudioFormat::Pcm,
    ];

    /// Lower-case name, as used in requests and as a file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Opus => "opus",
            AudioFormat::Aac => "aac",
            AudioFormat::Flac => "flac",
            AudioFormat::Wav => "wav",
            AudioFormat::Pcm => "pcm",
        }
    }

    /// MIME type of the encoded bytes.
    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            // The bytes are an Ogg stream; `audio/opus` would promise bare Opus packets.
            AudioFormat::Opus => "audio/ogg",
            AudioFormat::Aac => "audio/aac",
            AudioFormat::Flac => "audio/flac",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Pcm => "audio/pcm",
        }
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of [`AudioFormat::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audio format `{0}`: expected one of mp3, opus, aac, flac, wav, pcm")]
pub struct UnknownFormat(pub String);

impl FromStr for AudioFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        AudioFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_display_and_serde() {
        for format in AudioFormat::ALL {
            assert_eq!(format.as_str().parse::<AudioFormat>(), Ok(format));
            assert_eq!(format.to_string(), format.as_str());
            let json = serde_json::to_string(&format).expect("serialize");
            assert_eq!(json, format!("\"{}\"", format.as_str()));
            assert_eq!(serde_json::from_str::<AudioFormat>(&json).ok(), Some(format));
        }
        assert_eq!(" MP3 ".parse::<AudioFormat>(), Ok(AudioFormat::Mp3));
    }

    #[test]
    fn content_types() {
        assert_eq!(AudioFormat::Mp3.content_type(), "audio/mpeg");
        assert_eq!(AudioFormat::Opus.content_type(), "audio/ogg");
        assert_eq!(AudioFormat::Aac.content_type(), "audio/aac");
        assert_eq!(AudioFormat::Flac.content_type(), "audio/flac");
        assert_eq!(AudioFormat::Wav.content_type(), "audio/wav");
        assert_eq!(AudioFormat::Pcm.content_type(), "audio/pcm");
    }

    #[test]
    fn unknown_format_names_the_valid_ones() {
        let err = "aiff".parse::<AudioFormat>().unwrap_err();
        let message = err.to_string();
        assert!(message.contains("aiff") && message.contains("aac"), "{message}");
        for format in AudioFormat::ALL {
            assert!(message.contains(format.as_str()), "{message}");
        }
    }
}
