//! espeak-ng, run as a subprocess.
//!
//! espeak-ng is GPL-3, so it is only ever executed, never linked. A process costs about
//! 12 ms of start-up (measured on 2 cores: 48 one-sentence runs took 0.60 s, one run of the
//! same 48 sentences 0.17 s), which buys isolation: the library keeps global state and could
//! speak only one text at a time per process.

mod voices;
mod wav;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

use tracing::Instrument;

use crate::synth::send;
use crate::{EngineError, Pcm, Piece, Pieces, SynthesisRequest, Synthesizer, VoiceInfo, sentences};
use voices::VoiceTable;

/// espeak-ng's default rate in words per minute.
const NORMAL_WPM: f32 = 175.0;
/// espeak-ng raises any lower `-s` to this (espeakRATE_MINIMUM).
const MIN_WPM: u32 = 80;
/// 4 x normal. The API documents 450 (espeakRATE_MAXIMUM), but past it espeak-ng 1.51 switches
/// to its sonic speed-up and keeps getting faster to well beyond this.
const MAX_WPM: u32 = 700;

/// How to find and drive espeak-ng.
#[derive(Debug, Clone)]
pub struct EspeakConfig {
    /// Program to run; looked up on `PATH` when it has no slash.
    pub binary: PathBuf,
    /// Most syntheses running at once; 0 is treated as 1.
    pub max_concurrency: usize,
}

impl Default for EspeakConfig {
    fn default() -> Self {
        EspeakConfig {
            binary: PathBuf::from("espeak-ng"),
            max_concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The espeak-ng engine: 22,050 Hz mono speech in about a hundred languages.
#[derive(Debug)]
pub struct EspeakEngine {
    binary: PathBuf,
    version: String,
    table: VoiceTable,
    // Each synthesis is one process that keeps a core busy: beyond the core count, more at once
    // only adds latency to all of them.
    permits: Semaphore,
}

impl EspeakEngine {
    /// Probes the binary (`espeak-ng --version`) and loads the voice list once (`espeak-ng --voices`).
    pub async fn new(config: EspeakConfig) -> Result<Self, EngineError> {
        let binary = config.binary;
        let version = parse_version(&run(&binary, &["--version"]).await?)?;
        let voices_listing = run(&binary, &["--voices"]).await?;
        let variants_listing = run(&binary, &["--voices=variant"]).await?;
        let table = VoiceTable::parse(&voices_listing, &variants_listing);
        if table.voices().is_empty() {
            return Err(EngineError::NoVoices);
        }
        let permits = config.max_concurrency.clamp(1, Semaphore::MAX_PERMITS);
        Ok(EspeakEngine {
            binary,
            version,
            table,
            permits: Semaphore::new(permits),
        })
    }

    /// The version espeak-ng reported, e.g. `1.51`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Variant names accepted after a `+` in a voice id (e.g. `f3` in `en-us+f3`).
    pub fn variants(&self) -> &[String] {
        self.table.variants()
    }
}

#[async_trait::async_trait]
impl Synthesizer for EspeakEngine {
    fn name(&self) -> &'static str {
        "espeak-ng"
    }

    fn voices(&self) -> &[VoiceInfo] {
        self.table.voices()
    }

    /// Accepts a voice id, an OpenAI alias (resolving to `voice+variant`), or `voice+variant`
    /// with a variant from `espeak-ng --voices=variant`; case does not matter.
    fn resolve_voice(&self, name: &str) -> Option<String> {
        self.table.resolve(name).map(|r| r.id)
    }

    /// One espeak-ng process per sentence (about 12 ms of start-up each), so that the
    /// first sentence's audio is out while the rest are still to come, and each sentence's
    /// place in the audio is known for captions.
    async fn synthesize_stream(&self, req: &SynthesisRequest, out: Pieces) -> Result<(), EngineError> {
        // Resolving again guarantees that only names from espeak-ng's own lists reach argv.
        let voice = self
            .table
            .resolve(&req.voice)
            .ok_or_else(|| EngineError::UnknownVoice(req.voice.clone()))?
            .arg;
        let wpm = words_per_minute(req.speed).to_string();
        let _permit = self.permits.acquire().await.map_err(|_| EngineError::Closed)?;
        let mut produced = std::time::Duration::ZERO;
        let mut spoke = false;
        for (index, sentence) in sentences::split(&req.text).into_iter().enumerate() {
            let span = tracing::info_span!(
                "sentence",
                otel.name = "synthesize sentence",
                orator.sentence = index,
                orator.characters = req.text[sentence.range.clone()].chars().count(),
            );
            let budget = req.max_duration.map(|max| max.saturating_sub(produced));
            let text = neutralise(&req.text[sentence.range.clone()]);
            let pcm = match self.speak(&voice, &wpm, &text, budget).instrument(span).await {
                Ok(pcm) => pcm,
                // A sentence espeak-ng finds nothing to say in (a lone symbol) is skipped.
                Err(EngineError::EmptyOutput) => continue,
                Err(EngineError::TooLong(_)) => {
                    return Err(EngineError::TooLong(req.max_duration.expect("budget set")));
                }
                Err(e) => return Err(e),
            };
            produced += std::time::Duration::from_secs_f64(pcm.duration_seconds());
            spoke = true;
            let speech = pcm.samples.len();
            send(
                &out,
                Piece {
                    pcm,
                    text: sentence.range,
                    speech,
                },
            )
            .await?;
        }
        if spoke { Ok(()) } else { Err(EngineError::EmptyOutput) }
    }
}

impl EspeakEngine {
    /// One espeak-ng run over `text`, stopped as soon as its audio passes `max`.
    async fn speak(
        &self,
        voice: &str,
        wpm: &str,
        text: &str,
        max: Option<std::time::Duration>,
    ) -> Result<Pcm, EngineError> {
        // Text goes through stdin, never argv: no length limit, and text such as `--help` or
        // `-w /etc/x` is spoken instead of parsed. `--stdin` reads it whole; without it
        // espeak-ng synthesises 1000-byte fgets() chunks, which can split words and UTF-8.
        let mut child = spawn(
            &self.binary,
            &["-b", "1", "-v", voice, "-s", wpm, "--stdin", "--stdout"],
        )?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        // Written concurrently with reading the output so that neither pipe can fill up and
        // stall the other.
        let text = text.to_owned();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                stdin.write_all(text.as_bytes()).await?;
                stdin.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        let mut errors = Vec::new();
        let mut stderr = stderr.take(STDERR_LIMIT);
        let (fed, audio, _) = tokio::join!(feed, read_capped(stdout, max), stderr.read_to_end(&mut errors));
        let audio = match audio {
            Ok(audio) => audio,
            Err(e) => {
                // Past the cap: stop it now rather than let it write minutes nobody reads.
                let _ = child.kill().await;
                return Err(e);
            }
        };
        let status = child.wait().await?;
        // An early exit also breaks the pipe; the exit status and stderr explain it better.
        if !status.success() {
            return Err(EngineError::Failed {
                status,
                stderr: String::from_utf8_lossy(&errors).trim().to_owned(),
            });
        }
        fed?;
        wav::parse_stream(&audio)
    }
}

/// Starts espeak-ng with `args` and all three pipes open. A caller that gives up (timeout,
/// disconnect) drops the child, which kills the process: the work stops too.
pub(crate) fn spawn(binary: &Path, args: &[&str]) -> Result<tokio::process::Child, EngineError> {
    Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| EngineError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })
}

/// Most of espeak-ng's stderr kept for an error message.
const STDERR_LIMIT: u64 = 16 * 1024;

/// Text as plain words for espeak-ng, whose input has live syntax of its own: it stops at a
/// NUL, `\x01` starts an embedded command (`\x01` `1000S` would override the speed) and
/// `[[...]]` is read as phonemes. Control characters are refused by the API already; this
/// keeps the engine safe on its own.
pub(crate) fn neutralise(text: &str) -> String {
    let plain: String = text
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\n' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    // `[[` in any run of brackets opens phoneme mode; a space between them does not.
    plain.replace("[[", "[ [")
}

/// Reads espeak-ng's WAV stream, failing as soon as it holds more than `max` of audio.
async fn read_capped(
    mut stdout: tokio::process::ChildStdout,
    max: Option<std::time::Duration>,
) -> Result<Vec<u8>, EngineError> {
    let mut audio = Vec::new();
    let mut limit = None;
    loop {
        if audio.len() == audio.capacity() {
            audio.reserve(64 * 1024);
        }
        if stdout.read_buf(&mut audio).await? == 0 {
            return Ok(audio);
        }
        if let Some(max) = max {
            // The byte budget follows the voice's own sample rate, known once the header is in.
            if limit.is_none() {
                limit = wav::sample_rate(&audio)
                    .map(|rate| wav::HEADER_SLACK + (max.as_secs_f64() * f64::from(rate)) as usize * 2);
            }
            if limit.is_some_and(|limit| audio.len() > limit) {
                return Err(EngineError::TooLong(max));
            }
        }
    }
}

/// espeak-ng's `-s` for a speed factor: round(175 x speed), clamped to 80..=700.
///
/// 80 wpm is espeak-ng's floor, so every speed below about 0.46 sounds like 0.46; the top,
/// 700 wpm, is the 4.0 the API allows. A non-finite speed counts as 1.0.
fn words_per_minute(speed: f32) -> u32 {
    let speed = if speed.is_finite() { speed } else { 1.0 };
    // The float-to-int cast saturates; the clamp then bounds it.
    ((NORMAL_WPM * speed).round() as u32).clamp(MIN_WPM, MAX_WPM)
}

/// Run a short query command and return its stdout.
async fn run(binary: &Path, args: &[&str]) -> Result<String, EngineError> {
    let output = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| EngineError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        return Err(EngineError::Failed {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Pick the version out of `eSpeak NG text-to-speech: 1.51  Data at: ...`.
///
/// Anything else means the binary is not espeak-ng, which is worth failing on at startup.
fn parse_version(output: &str) -> Result<String, EngineError> {
    output
        .split_once("text-to-speech:")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| {
            EngineError::BadOutput(format!(
                "`--version` printed {:?}, not an espeak-ng version",
                output.lines().next().unwrap_or_default()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_syntax_in_text_is_spoken_as_plain_text() {
        assert_eq!(neutralise("a\x011000S b"), "a 1000S b");
        assert_eq!(neutralise("say [[h@'l@U]] now"), "say [ [h@'l@U]] now");
        assert_eq!(neutralise("[[[x"), "[ [[x");
        assert_eq!(neutralise("line\nnext\ttab\0end"), "line\nnext\ttab end");
    }

    #[test]
    fn speed_maps_to_clamped_words_per_minute() {
        assert_eq!(words_per_minute(1.0), 175);
        assert_eq!(words_per_minute(2.0), 350);
        assert_eq!(words_per_minute(4.0), 700);
        assert_eq!(words_per_minute(1.1), 193);
        assert_eq!(words_per_minute(0.25), 80);
        assert_eq!(words_per_minute(0.5), 88);
        assert_eq!(words_per_minute(100.0), 700);
        assert_eq!(words_per_minute(-1.0), 80);
        assert_eq!(words_per_minute(f32::NAN), 175);
        assert_eq!(words_per_minute(f32::INFINITY), 175);
    }

    #[test]
    fn version_parsing() {
        let line = "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/x86_64-linux-gnu/espeak-ng-data\n";
        assert_eq!(parse_version(line).unwrap(), "1.51");
        assert!(matches!(parse_version(""), Err(EngineError::BadOutput(_))));
        assert!(matches!(
            parse_version("GNU bash, version 5.2"),
            Err(EngineError::BadOutput(_))
        ));
    }
}
