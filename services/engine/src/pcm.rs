//! Raw engine output.

/// Mono 16-bit PCM produced by an engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    /// Samples in playback order.
    pub samples: Vec<i16>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Pcm {
    /// Playing time in seconds (0 when the rate is 0, rather than NaN or infinity).
    pub fn duration_seconds(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration() {
        let pcm = Pcm {
            samples: vec![0; 33_075],
            sample_rate: 22_050,
        };
        assert!((pcm.duration_seconds() - 1.5).abs() < 1e-9);
        let broken = Pcm {
            samples: vec![0; 10],
            sample_rate: 0,
        };
        assert_eq!(broken.duration_seconds(), 0.0);
    }
}
