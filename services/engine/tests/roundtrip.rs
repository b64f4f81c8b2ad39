//! Speech from espeak-ng, encoded by this crate, decoded by independent decoders.
//!
//! WAV and MP3 are read back with symphonia, FLAC with claxon, Ogg Opus page by page with the
//! `ogg` reader and libopus's decoder. None of them share code with the encoders.

use std::io::Cursor;

use orator_engine::{
    AudioFormat, EspeakConfig, EspeakEngine, Pcm, SynthesisRequest, Synthesizer, encode, output_sample_rate,
};

const TEXT: &str = "Orator turns text into speech. This sentence checks that every audio format \
                    survives a round trip through an independent decoder.";

/// What a decoder got out of the bytes, scaled to 16-bit.
struct Decoded {
    samples: Vec<f32>,
    sample_rate: u32,
    channels: usize,
}

impl Decoded {
    fn duration(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

async fn speech() -> Pcm {
    let engine = EspeakEngine::new(EspeakConfig::default()).await.unwrap();
    engine
        .synthesize(&SynthesisRequest {
            text: TEXT.to_owned(),
            voice: "alloy".to_owned(),
            speed: 1.0,
            max_duration: None,
        })
        .await
        .unwrap()
}

fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

fn as_f32(pcm: &Pcm) -> Vec<f32> {
    pcm.samples.iter().map(|&s| f32::from(s)).collect()
}

/// RMS of consecutive 10 ms windows: a loudness curve that can be compared across rates.
fn envelope(samples: &[f32], rate: u32) -> Vec<f64> {
    // Window edges in exact time, so 22,050 Hz windows do not drift against 48 kHz ones.
    let edge = |i: usize| (i as u64 * u64::from(rate) / 100) as usize;
    (0..)
        .map(|i| (edge(i), edge(i + 1).min(samples.len())))
        .take_while(|&(start, end)| start < end)
        .map(|(start, end)| rms(&samples[start..end]))
        .collect()
}

/// Pearson correlation of two loudness curves over their common length.
fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |x: &[f64]| x.iter().sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |x: &[f64], m: f64| x.iter().map(|v| (v - m).powi(2)).sum::<f64>();
    cov / (var(a, ma) * var(b, mb)).sqrt()
}

/// The checks every format must pass against the PCM it came from.
fn assert_faithful(format: AudioFormat, pcm: &Pcm, decoded: &Decoded, duration_tolerance: f64) {
    assert_eq!(decoded.channels, 1, "{format}: not mono");
    assert_eq!(
        decoded.sample_rate,
        output_sample_rate(pcm.sample_rate, format),
        "{format}: sample rate"
    );
    let (want, got) = (pcm.duration_seconds(), decoded.duration());
    assert!(
        (got - want).abs() <= want * duration_tolerance,
        "{format}: {got} s decoded vs {want} s synthesised"
    );
    let (want_rms, got_rms) = (rms(&as_f32(pcm)), rms(&decoded.samples));
    assert!(want_rms > 500.0, "the speech itself is too quiet: {want_rms}");
    assert!(
        got_rms > want_rms * 0.7 && got_rms < want_rms * 1.3,
        "{format}: rms {got_rms} vs {want_rms}"
    );
    let r = correlation(
        &envelope(&as_f32(pcm), pcm.sample_rate),
        &envelope(&decoded.samples, decoded.sample_rate),
    );
    assert!(r > 0.98, "{format}: loudness curve correlation {r}");
    println!("{format}: {got:.3} s vs {want:.3} s, rms {got_rms:.0} vs {want_rms:.0}, envelope r = {r:.4}");
}

fn symphonia_decode(bytes: Vec<u8>, extension: &str) -> Decoded {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let options = FormatOptions {
        // Honour the LAME tag's delay and padding.
        enable_gapless: true,
        ..Default::default()
    };
    let mut reader = symphonia::default::get_probe()
        .format(&hint, stream, &options, &MetadataOptions::default())
        .expect("probe")
        .format;
    let track = reader.default_track().expect("a track").clone();
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .expect("decoder");
    let mut samples = Vec::new();
    let mut channels = 0;
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("{extension}: {e}"),
        };
        let audio = decoder.decode(&packet).expect("decode");
        let spec = *audio.spec();
        channels = spec.channels.count();
        sample_rate = spec.rate;
        let mut buffer = SampleBuffer::<f32>::new(audio.capacity() as u64, spec);
        buffer.copy_interleaved_ref(audio);
        samples.extend(buffer.samples().iter().map(|s| s * 32_768.0));
    }
    Decoded {
        samples,
        sample_rate,
        channels,
    }
}

fn ogg_opus_decode(bytes: Vec<u8>) -> Decoded {
    let mut reader = ogg::reading::PacketReader::new(Cursor::new(bytes));
    let head = reader.read_packet_expected().expect("OpusHead");
    assert_eq!(&head.data[..8], b"OpusHead");
    assert!(head.last_in_page(), "OpusHead must end its page");
    assert_eq!(head.absgp_page(), 0);
    let channels = usize::from(head.data[9]);
    let pre_skip = usize::from(u16::from_le_bytes([head.data[10], head.data[11]]));
    let tags = reader.read_packet_expected().expect("OpusTags");
    assert_eq!(&tags.data[..8], b"OpusTags");
    assert!(
        tags.first_in_page() && tags.last_in_page(),
        "OpusTags must be alone on its page"
    );

    let mut decoder = opus::Decoder::new(48_000, opus::Channels::Mono).unwrap();
    let mut out = Vec::new();
    let mut buffer = vec![0i16; 5_760];
    let mut last_granule = 0;
    let mut pages_granules = Vec::new();
    let mut ended = false;
    while let Some(packet) = reader.read_packet().expect("ogg") {
        assert!(!ended, "packet after end of stream");
        let n = decoder.decode(&packet.data, &mut buffer, false).unwrap();
        out.extend_from_slice(&buffer[..n]);
        if packet.last_in_page() {
            let granule = packet.absgp_page();
            assert!(granule >= last_granule, "granule went backwards");
            last_granule = granule;
            pages_granules.push(granule);
        }
        ended = packet.last_in_stream();
    }
    assert!(ended, "no end-of-stream flag");
    let packets = pages_granules.last().map_or(0, |g| g.div_ceil(960));
    assert!(
        pages_granules.len() as u64 >= packets / 50,
        "{packets} packets on {} pages",
        pages_granules.len()
    );
    // RFC 7845: the final granule position says how much of the last packet is real.
    let end = usize::try_from(last_granule).unwrap();
    assert!(
        end <= out.len() && end + 960 > out.len(),
        "end granule {end}, decoded {}",
        out.len()
    );
    Decoded {
        samples: out[pre_skip..end].iter().map(|&s| f32::from(s)).collect(),
        sample_rate: 48_000,
        channels,
    }
}

#[tokio::test]
async fn wav_is_bit_exact() {
    let pcm = speech().await;
    let bytes = encode(&pcm, AudioFormat::Wav).unwrap();
    assert_eq!(&bytes[..4], b"RIFF");
    let decoded = symphonia_decode(bytes, "wav");
    assert_faithful(AudioFormat::Wav, &pcm, &decoded, 0.0);
    assert_eq!(decoded.samples, as_f32(&pcm));
}

#[tokio::test]
async fn flac_is_bit_exact() {
    let pcm = speech().await;
    let bytes = encode(&pcm, AudioFormat::Flac).unwrap();
    assert!(bytes.len() < pcm.samples.len() * 2, "FLAC did not compress");
    let mut reader = claxon::FlacReader::new(Cursor::new(bytes)).unwrap();
    let info = reader.streaminfo();
    assert_eq!(info.bits_per_sample, 16);
    let samples: Vec<f32> = reader.samples().map(|s| s.unwrap() as f32).collect();
    let decoded = Decoded {
        samples,
        sample_rate: info.sample_rate,
        channels: info.channels as usize,
    };
    assert_faithful(AudioFormat::Flac, &pcm, &decoded, 0.0);
    assert_eq!(decoded.samples, as_f32(&pcm));
}

#[tokio::test]
async fn mp3_decodes_to_the_same_speech() {
    let pcm = speech().await;
    let bytes = encode(&pcm, AudioFormat::Mp3).unwrap();
    // 64 kbps CBR.
    let expected_size = pcm.duration_seconds() * 64_000.0 / 8.0;
    let size = bytes.len() as f64;
    assert!(
        (size - expected_size).abs() < expected_size * 0.1,
        "{size} bytes, expected ~{expected_size}"
    );
    let mut decoded = symphonia_decode(bytes, "mp3");
    // A stream has no LAME tag (it would have to be written over the first frame at the
    // end), so the decoder keeps LAME's delay (576 + 529 samples) and padding.
    decoded.samples.drain(..1105);
    let extra = decoded.samples.len() - pcm.samples.len();
    assert!(extra <= 1152, "{extra} samples more than synthesised");
    assert_faithful(AudioFormat::Mp3, &pcm, &decoded, 1152.0 / f64::from(pcm.sample_rate));
}

#[tokio::test]
async fn aac_in_adts_decodes_to_the_same_speech() {
    let pcm = speech().await;
    let bytes = encode(&pcm, AudioFormat::Aac).unwrap();
    assert_eq!((bytes[0], bytes[1] & 0xf0), (0xff, 0xf0), "ADTS sync word");
    let mut decoded = symphonia_decode(bytes, "aac");
    // ADTS carries no delay or length: the decoder returns the encoder's priming first (and
    // the silent tail last). Find the priming as the lag that best aligns the loudness
    // curves, drop it, and the rest must be the same speech.
    let reference = envelope(&as_f32(&pcm), pcm.sample_rate);
    let curve = envelope(&decoded.samples, decoded.sample_rate);
    let (lag, r) = (0..30)
        .map(|lag| (lag, correlation(&reference, &curve[lag..])))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    println!("aac: priming {} ms, envelope r = {r:.4}", lag * 10);
    assert!(lag <= 15, "aac: {} ms of priming", lag * 10);
    let priming = lag * decoded.sample_rate as usize / 100;
    decoded.samples.drain(..priming);
    assert_faithful(AudioFormat::Aac, &pcm, &decoded, 0.1);
}

#[tokio::test]
async fn ogg_opus_decodes_to_the_same_speech() {
    let pcm = speech().await;
    let bytes = encode(&pcm, AudioFormat::Opus).unwrap();
    assert_eq!(&bytes[..4], b"OggS");
    let decoded = ogg_opus_decode(bytes);
    // Pre-skip and the end granule make the length exact up to resampling rounding.
    let expected = (pcm.samples.len() as u64 * 48_000).div_ceil(u64::from(pcm.sample_rate));
    assert!(
        (decoded.samples.len() as u64).abs_diff(expected) <= 1,
        "{} samples decoded, {expected} expected",
        decoded.samples.len()
    );
    assert_faithful(AudioFormat::Opus, &pcm, &decoded, 0.001);
}

#[tokio::test]
async fn raw_pcm_is_the_samples() {
    let pcm = speech().await;
    let bytes = encode(&pcm, AudioFormat::Pcm).unwrap();
    let samples: Vec<f32> = bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    let decoded = Decoded {
        samples,
        sample_rate: pcm.sample_rate,
        channels: 1,
    };
    assert_faithful(AudioFormat::Pcm, &pcm, &decoded, 0.0);
}

#[test]
fn short_and_odd_inputs_encode_in_every_format() {
    // Shorter than one Opus frame, one MP3 frame, one FLAC block; and an odd rate.
    for (len, rate) in [(1, 22_050), (100, 22_050), (5_000, 16_000), (3_000, 44_100)] {
        let pcm = Pcm {
            samples: (0..len).map(|i| ((i * 37) % 2_000) as i16 - 1_000).collect(),
            sample_rate: rate,
        };
        for format in AudioFormat::ALL {
            let bytes = encode(&pcm, format).unwrap_or_else(|e| panic!("{format} {len}: {e}"));
            assert!(!bytes.is_empty(), "{format} {len}");
        }
        let opus = ogg_opus_decode(encode(&pcm, AudioFormat::Opus).unwrap());
        let expected = (len as u64 * 48_000).div_ceil(u64::from(rate)) as usize;
        assert!(
            opus.samples.len().abs_diff(expected) <= 1,
            "opus {len} @ {rate}: {} vs {expected}",
            opus.samples.len()
        );
    }
}
