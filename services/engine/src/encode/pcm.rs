//! Headerless PCM: what the OpenAI API calls `pcm`.

use crate::Pcm;

pub(super) fn encode(pcm: &Pcm) -> Vec<u8> {
    pcm.samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_s16() {
        let pcm = Pcm {
            samples: vec![1, -1, 0x1234],
            sample_rate: 24_000,
        };
        assert_eq!(encode(&pcm), [0x01, 0x00, 0xff, 0xff, 0x34, 0x12]);
    }
}
