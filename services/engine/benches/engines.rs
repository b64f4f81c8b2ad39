//! espeak-ng and Piper side by side, in one run: model load, real-time factor (synthesis
//! time / audio length) at 1 and 2 inference threads, texts per second per core, and peak
//! memory. Each configuration runs in a child process of its own, so its peak RSS is its own.
//!
//! Run: `cargo bench -p orator-engine --bench engines` (after scripts/fetch-models.sh);
//! `-- --quick` synthesises fewer texts. Prints a Markdown table (scripts/bench.sh puts it in
//! docs/benchmarks.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orator_engine::piper::{PiperConfig, PiperEngine, RuntimeConfig};
use orator_engine::{EspeakConfig, EspeakEngine, SynthesisRequest, Synthesizer};

/// Ordinary sentences of ordinary lengths (45 to 150 characters).
const TEXTS: &[&str] = &[
    "Your order has shipped and should arrive on Thursday.",
    "The meeting moved to three o'clock; please let the others know.",
    "Thank you for calling. All of our agents are busy right now, but your call matters to us, so please stay on the line.",
    "Turn left at the next junction, then keep right and follow the signs for the station.",
    "It is twenty degrees and sunny in the city today, with a light wind from the west.",
    "A reference service shows how to measure what matters: latency, errors, saturation and the cost of every request.",
    "Reminder: the library closes early on Friday.",
    "Once upon a time there was a small program that turned text into speech, and it wanted to be measured well.",
];

#[derive(Clone, Copy, Debug)]
enum Setup {
    Espeak,
    Piper { sessions: usize, threads: usize },
}

impl Setup {
    fn name(self) -> String {
        match self {
            Setup::Espeak => "espeak-ng".into(),
            Setup::Piper { sessions, threads } => format!("piper, {sessions} session(s) x {threads} thread(s)"),
        }
    }

    fn arg(self) -> String {
        match self {
            Setup::Espeak => "espeak".into(),
            Setup::Piper { sessions, threads } => format!("piper:{sessions}:{threads}"),
        }
    }

    fn parse(arg: &str) -> Self {
        match arg.split(':').collect::<Vec<_>>()[..] {
            ["espeak"] => Setup::Espeak,
            ["piper", s, t] => Setup::Piper {
                sessions: s.parse().expect("sessions"),
                threads: t.parse().expect("threads"),
            },
            _ => panic!("unknown setup {arg}"),
        }
    }

    /// Syntheses at once when measuring throughput: one per session (espeak-ng: per core).
    fn parallel(self, cores: usize) -> usize {
        match self {
            Setup::Espeak => cores,
            Setup::Piper { sessions, .. } => sessions,
        }
    }
}

fn models() -> PathBuf {
    std::env::var_os("ORATOR_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.models"))
}

async fn load(setup: Setup) -> Arc<dyn Synthesizer> {
    match setup {
        Setup::Espeak => Arc::new(EspeakEngine::new(EspeakConfig::default()).await.expect("espeak-ng")),
        Setup::Piper { sessions, threads } => {
            let dir = models();
            let engine = PiperEngine::open(PiperConfig {
                voices: vec![dir.join("piper/en_US-joe-medium.onnx")],
                aliases: None,
                espeak_binary: "espeak-ng".into(),
                deterministic: false,
            })
            .expect("run scripts/fetch-models.sh first");
            engine
                .load(RuntimeConfig {
                    library: dir.join("onnxruntime/libonnxruntime.so.1.31.1"),
                    sessions,
                    threads,
                })
                .await
                .expect("the model loads");
            Arc::new(engine)
        }
    }
}

fn request(text: &str) -> SynthesisRequest {
    SynthesisRequest {
        text: text.into(),
        voice: "alloy".into(),
        speed: 1.0,
        max_duration: None,
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One configuration, in this (child) process: prints one tab-separated line.
async fn measure(setup: Setup, rounds: usize, cores: usize) {
    let started = Instant::now();
    let engine = load(setup).await;
    let load_time = started.elapsed();

    // Real-time factor, one synthesis at a time.
    let mut rtf = Vec::new();
    for _ in 0..rounds {
        for text in TEXTS {
            let t = Instant::now();
            let pcm = engine.synthesize(&request(text)).await.expect("synthesis");
            rtf.push(t.elapsed().as_secs_f64() / pcm.duration_seconds());
        }
    }
    rtf.sort_by(f64::total_cmp);
    let median = rtf[rtf.len() / 2];

    // Throughput with as many at once as the engine runs in parallel.
    let parallel = setup.parallel(cores);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..parallel {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u32;
            for text in TEXTS.iter().cycle().skip(worker).take(TEXTS.len() * rounds) {
                engine.synthesize(&request(text)).await.expect("synthesis");
                done += 1;
            }
            done
        }));
    }
    let mut texts = 0;
    for task in tasks {
        texts += task.await.expect("task");
    }
    let per_second = f64::from(texts) / t.elapsed().as_secs_f64();
    println!(
        "{}\t{:.3}\t{median:.4}\t{:.3}\t{:.1}",
        setup.arg(),
        load_time.as_secs_f64(),
        per_second / cores as f64,
        peak_rss_mb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 3 };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if let Some(pos) = args.iter().position(|a| a == "--setup") {
        let setup = Setup::parse(&args[pos + 1]);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(measure(setup, rounds, cores));
        return;
    }
    let mut setups = vec![
        Setup::Espeak,
        Setup::Piper {
            sessions: 1,
            threads: 1,
        },
    ];
    if cores >= 2 {
        setups.push(Setup::Piper {
            sessions: 1,
            threads: 2,
        });
        setups.push(Setup::Piper {
            sessions: 2,
            threads: 1,
        });
    }
    let me = std::env::current_exe().expect("own path");
    let mut rows = Vec::new();
    for setup in setups {
        let mut command = std::process::Command::new(&me);
        command.args(["--setup", &setup.arg()]);
        if quick {
            command.arg("--quick");
        }
        let out = command.output().expect("child bench");
        assert!(
            out.status.success(),
            "{}: {}",
            setup.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        let figures: Vec<f64> = line.split('\t').skip(1).map(|v| v.parse().expect("a figure")).collect();
        rows.push((setup, figures));
    }
    let espeak = rows[0].1[2];
    println!("| Engine | Load | Real-time factor (median) | Texts/s per core | / espeak-ng | Peak RSS |");
    println!("|---|---|---|---|---|---|");
    for (setup, f) in &rows {
        println!(
            "| {} | {} | {:.4} | {:.2} | {:.3} | {:.0} MB |",
            setup.name(),
            fmt(Duration::from_secs_f64(f[0])),
            f[1],
            f[2],
            f[2] / espeak,
            f[3]
        );
    }
    println!();
    println!(
        "{} texts of 45 to 150 characters, {rounds} round(s), {cores} cores. Real-time factor: one synthesis at a time. \
         Texts/s: one synthesis per session at once (espeak-ng: one per core), divided by the cores. \
         Load: espeak-ng's voice list; Piper's runtime, sessions and warm-up.",
        TEXTS.len()
    );
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}
