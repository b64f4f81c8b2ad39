//! One job's audio as it arrives, for every request that wants it: the request that made
//! the job and those that joined it each get every chunk from the first, at their own pace.
//! Chunks are kept until the last listener and the job are done, which the audio-length cap
//! bounds.

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use bytes::Bytes;
use tokio::sync::watch;

use crate::{
    cache::CachedAudio,
    metrics::{STREAM_BYTES, STREAM_CHUNKS, STREAMS_ACTIVE, STREAMS_CANCELLED},
    speech::SpeechError,
};

/// Shows every stream series at zero from the start, so that rates and alerts have a
/// baseline before the first stream.
pub fn register() {
    for format in orator_engine::AudioFormat::ALL {
        let format = format.as_str();
        metrics::counter!(STREAM_CHUNKS, "format" => format).increment(0);
        metrics::counter!(STREAM_BYTES, "format" => format).increment(0);
        metrics::counter!(STREAMS_CANCELLED, "format" => format).increment(0);
        metrics::gauge!(STREAMS_ACTIVE, "format" => format).increment(0.0);
    }
}

#[derive(Default)]
struct State {
    sample_rate: Option<u32>,
    chunks: Vec<Bytes>,
    duration_ms: u32,
    end: Option<Result<(), SpeechError>>,
}

/// A job's audio chunks so far, and how the job ended once it has.
pub struct Tee {
    state: Mutex<State>,
    changed: watch::Sender<()>,
}

impl Default for Tee {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            changed: watch::channel(()).0,
        }
    }
}

impl Tee {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("stream state poisoned")
    }

    /// Adds the next chunk.
    pub fn push(&self, sample_rate: u32, bytes: Bytes) {
        let mut state = self.state();
        state.sample_rate.get_or_insert(sample_rate);
        state.chunks.push(bytes);
        drop(state);
        self.changed.send_replace(());
    }

    /// The bytes received so far, in one piece.
    pub fn received(&self) -> Bytes {
        self.state().chunks.concat().into()
    }

    /// Ends the stream: complete (with the audio's length) or failed.
    pub fn end(&self, result: Result<u32, SpeechError>) {
        let mut state = self.state();
        state.end = Some(result.map(|duration_ms| {
            state.duration_ms = duration_ms;
        }));
        drop(state);
        self.changed.send_replace(());
    }

    /// The whole audio, once the stream ended complete.
    pub fn audio(&self) -> Option<CachedAudio> {
        let state = self.state();
        match (&state.end, state.sample_rate) {
            (Some(Ok(())), Some(sample_rate)) => Some(CachedAudio {
                sample_rate,
                duration_ms: state.duration_ms,
                bytes: state.chunks.concat().into(),
            }),
            _ => None,
        }
    }

    /// A listener from the first chunk; `format` labels its metrics.
    pub fn listen(self: &Arc<Self>, format: &'static str) -> Listener {
        Listener {
            tee: self.clone(),
            changed: self.changed.subscribe(),
            next: 0,
            format,
            started: None,
        }
    }
}

/// One request's way through a [`Tee`]. Dropped after its first chunk and before the end,
/// it counts as a stream the client cancelled.
pub struct Listener {
    tee: Arc<Tee>,
    changed: watch::Receiver<()>,
    next: usize,
    format: &'static str,
    started: Option<Instant>,
}

/// What a listener sees next.
enum Step {
    Chunk(Bytes),
    End(Result<(), SpeechError>),
    Wait,
}

impl Listener {
    fn step(&mut self) -> Step {
        let state = self.tee.state();
        if let Some(chunk) = state.chunks.get(self.next) {
            self.next += 1;
            return Step::Chunk(chunk.clone());
        }
        match &state.end {
            Some(end) => Step::End(end.clone()),
            None => Step::Wait,
        }
    }

    /// Waits for the first chunk: the audio's sample rate, or why there is no audio.
    pub async fn start(&mut self) -> Result<u32, SpeechError> {
        loop {
            {
                let state = self.tee.state();
                if let Some(rate) = state.sample_rate {
                    drop(state);
                    metrics::gauge!(STREAMS_ACTIVE, "format" => self.format).increment(1.0);
                    self.started = Some(Instant::now());
                    return Ok(rate);
                }
                if let Some(end) = &state.end {
                    return Err(end
                        .clone()
                        .err()
                        .unwrap_or_else(|| SpeechError::Failed((&crate::failure::JobFailure::NoSpeech).into())));
                }
            }
            // The listener holds the tee, so the sender outlives this wait.
            let _ = self.changed.changed().await;
        }
    }

    /// The next chunk; `None` once the stream is complete, an error if it broke off.
    pub async fn next(&mut self) -> Option<Result<Bytes, SpeechError>> {
        loop {
            match self.step() {
                Step::Chunk(bytes) => {
                    metrics::counter!(STREAM_CHUNKS, "format" => self.format).increment(1);
                    metrics::counter!(STREAM_BYTES, "format" => self.format).increment(bytes.len() as u64);
                    return Some(Ok(bytes));
                }
                Step::End(end) => {
                    self.finish();
                    return end.err().map(Err);
                }
                Step::Wait => {
                    let _ = self.changed.changed().await;
                }
            }
        }
    }

    /// Length of the audio once the stream is complete.
    pub fn duration_ms(&self) -> u32 {
        self.tee.state().duration_ms
    }

    fn finish(&mut self) {
        if self.started.take().is_some() {
            metrics::gauge!(STREAMS_ACTIVE, "format" => self.format).decrement(1.0);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if self.started.is_some() {
            metrics::counter!(STREAMS_CANCELLED, "format" => self.format).increment(1);
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_listener_gets_every_chunk_from_the_first() {
        let tee = Arc::new(Tee::default());
        let mut early = tee.listen("mp3");
        tee.push(22_050, Bytes::from_static(b"a"));
        assert_eq!(early.start().await.unwrap(), 22_050);
        assert_eq!(early.next().await.unwrap().unwrap(), "a");
        tee.push(22_050, Bytes::from_static(b"b"));
        let mut late = tee.listen("mp3");
        tee.end(Ok(1000));
        assert_eq!(early.next().await.unwrap().unwrap(), "b");
        assert!(early.next().await.is_none());
        assert_eq!(late.start().await.unwrap(), 22_050);
        assert_eq!(late.next().await.unwrap().unwrap(), "a");
        assert_eq!(late.next().await.unwrap().unwrap(), "b");
        assert!(late.next().await.is_none());
        assert_eq!(&tee.audio().unwrap().bytes[..], b"ab");
    }

    #[tokio::test]
    async fn a_failure_before_any_audio_is_the_answer_and_after_it_breaks_the_stream() {
        let tee = Arc::new(Tee::default());
        let mut listener = tee.listen("wav");
        tee.end(Err(SpeechError::Timeout(std::time::Duration::from_secs(1))));
        assert!(matches!(listener.start().await, Err(SpeechError::Timeout(_))));

        let tee = Arc::new(Tee::default());
        let mut listener = tee.listen("wav");
        tee.push(8_000, Bytes::from_static(b"x"));
        listener.start().await.unwrap();
        tee.end(Err(SpeechError::Timeout(std::time::Duration::from_secs(1))));
        assert!(listener.next().await.unwrap().is_ok());
        assert!(matches!(listener.next().await, Some(Err(SpeechError::Timeout(_)))));
        assert!(tee.audio().is_none());
    }
}
