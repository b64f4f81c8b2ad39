//! Raw little-endian 16-bit samples: nothing to hold back.

use super::Encoder;
use crate::EncodeError;

/// Headerless PCM.
pub(super) struct Raw;

impl Encoder for Raw {
    fn push(&mut self, samples: &[i16]) -> Result<Vec<u8>, EncodeError> {
        Ok(samples.iter().flat_map(|s| s.to_le_bytes()).collect())
    }

    fn finish(&mut self) -> Result<Vec<u8>, EncodeError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_s16() {
        assert_eq!(
            Raw.push(&[1, -1, 0x1234]).unwrap(),
            [0x01, 0x00, 0xff, 0xff, 0x34, 0x12]
        );
    }
}
