//! Prints how long synthesis and each encoder take.
//!
//! `cargo run --release -p orator-engine --example timing [-- OUT_DIR]`; with OUT_DIR the long
//! text is also written there in every format, for listening or checking with other tools.

use std::time::{Duration, Instant};

use orator_engine::{AudioFormat, EspeakConfig, EspeakEngine, SynthesisRequest, Synthesizer, encode};

const SENTENCE: &str = "The quick brown fox jumps over the lazy dog, then it runs back into the forest.";

const PARAGRAPH: &str = "Speech synthesis turns written text into audio. Orator accepts a request \
    over HTTP, puts it on a queue, and a worker speaks it with espeak-ng before encoding the \
    samples as MP3, Opus, FLAC, WAV or raw PCM. ";

/// CPU seconds this process has used (user + system), from /proc: wall time alone is
/// misleading on a shared two-core machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or_default().split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime, in the kernel's 100 Hz clock ticks.
    (ticks(11) + ticks(12)) / 100.0
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let engine = EspeakEngine::new(EspeakConfig::default()).await?;
    println!("espeak-ng {}, {} voices", engine.version(), engine.voices().len());

    let request = |text: &str| SynthesisRequest {
        text: text.to_owned(),
        voice: "en-us".to_owned(),
        speed: 1.0,
        max_duration: None,
    };

    let short = request(SENTENCE);
    let mut times = Vec::new();
    let mut seconds = 0.0;
    for _ in 0..20 {
        let start = Instant::now();
        seconds = engine.synthesize(&short).await?.duration_seconds();
        times.push(start.elapsed());
    }
    println!(
        "synthesize, 1 sentence ({seconds:.2} s of audio): median {:?}, min {:?}",
        median(times.clone()),
        times.iter().min().unwrap()
    );

    let long = request(&PARAGRAPH.repeat(5));
    let mut times = Vec::new();
    let mut pcm = None;
    for _ in 0..5 {
        let start = Instant::now();
        pcm = Some(engine.synthesize(&long).await?);
        times.push(start.elapsed());
    }
    let pcm = pcm.unwrap();
    println!(
        "synthesize, {} chars ({:.1} s of audio): median {:?}, min {:?}",
        long.text.len(),
        pcm.duration_seconds(),
        median(times.clone()),
        times.iter().min().unwrap()
    );

    for format in AudioFormat::ALL {
        let mut times = Vec::new();
        let mut bytes = Vec::new();
        let cpu_start = cpu_seconds();
        for _ in 0..5 {
            let start = Instant::now();
            bytes = encode(&pcm, format)?;
            times.push(start.elapsed());
        }
        println!(
            "encode {format:>4}: median {:?} wall, {:.3} s CPU, {} bytes",
            median(times),
            (cpu_seconds() - cpu_start) / 5.0,
            bytes.len()
        );
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir)?;
            std::fs::write(dir.join(format!("long.{format}")), &bytes)?;
        }
    }
    Ok(())
}
