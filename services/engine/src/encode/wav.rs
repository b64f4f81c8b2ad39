//! RIFF WAVE, 16-bit mono.

use std::io::Cursor;

use crate::{EncodeError, Pcm};

pub(super) fn encode(pcm: &Pcm) -> Result<Vec<u8>, EncodeError> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: pcm.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + pcm.samples.len() * 2));
    let fail = |e| EncodeError::codec("WAV", e);
    let mut writer = hound::WavWriter::new(&mut out, spec).map_err(fail)?;
    let len =
        u32::try_from(pcm.samples.len()).map_err(|_| EncodeError::codec("WAV", "too many samples for a WAV file"))?;
    let mut samples = writer.get_i16_writer(len);
    for &s in &pcm.samples {
        samples.write_sample(s);
    }
    samples.flush().map_err(fail)?;
    writer.finalize().map_err(fail)?;
    Ok(out.into_inner())
}
