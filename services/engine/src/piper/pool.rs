//! A bounded pool of ONNX Runtime sessions for one model.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{EngineError, observed};

/// The ONNX Runtime version this crate is built against (`api-31`).
pub fn runtime_version() -> &'static str {
    "1.31"
}

/// Loads the shared library once per process; later calls reuse it.
pub fn environment(library: &Path) -> Result<Environment, EngineError> {
    static LOADED: std::sync::OnceLock<Result<Environment, String>> = std::sync::OnceLock::new();
    if !library.is_file() {
        return Err(EngineError::Model {
            path: library.to_path_buf(),
            message: "no such file (the ONNX Runtime library; scripts/fetch-models.sh fetches it)".into(),
        });
    }
    LOADED
        .get_or_init(|| {
            ort::init_from(library)
                .map_err(|e| e.to_string())?
                .with_name("orator")
                .build()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|message| EngineError::Model {
            path: library.to_path_buf(),
            message,
        })
}

/// Sessions of one model; at most `sessions.len()` inferences run at once.
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    free: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
}

/// A session taken from the pool; it goes back when dropped, before its permit does.
struct Lease {
    inner: Arc<Inner>,
    session: Option<Session>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            self.inner.free.lock().expect("not poisoned").push(session);
        }
        metrics::gauge!(observed::SESSIONS_BUSY, "engine" => super::NAME).decrement(1.0);
    }
}

impl Pool {
    /// Creates `sessions` sessions of `model`, each running on `threads` threads.
    pub fn open(environment: &Environment, model: &Path, sessions: usize, threads: usize) -> Result<Self, EngineError> {
        let fail = |message: String| EngineError::Model {
            path: model.to_path_buf(),
            message,
        };
        if !model.is_file() {
            return Err(fail("no such file (the voice model)".into()));
        }
        let sessions = sessions.max(1);
        let mut free = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let builder = Session::builder(environment).map_err(|e| fail(e.to_string()))?;
            let builder = builder
                .with_intra_threads(threads.max(1))
                .map_err(|e| fail(e.to_string()))?;
            let builder = builder.with_inter_threads(1).map_err(|e| fail(e.to_string()))?;
            // Idle threads that spin steal the CPU that espeak-ng and the encoders need.
            let mut builder = builder.with_intra_op_spinning(false).map_err(|e| fail(e.to_string()))?;
            let session = builder.commit_from_file(model).map_err(|e| fail(e.to_string()))?;
            free.push(session);
        }
        metrics::gauge!(observed::SESSIONS, "engine" => super::NAME).increment(sessions as f64);
        Ok(Self {
            inner: Arc::new(Inner {
                free: Mutex::new(free),
                permits: Arc::new(Semaphore::new(sessions)),
            }),
        })
    }

    /// Runs once on every session, so that none meets its first request cold.
    pub async fn warm_up(&self, ids: Vec<i64>, scales: [f32; 3], speakers: u32) -> Result<(), EngineError> {
        let count = self.inner.free.lock().expect("not poisoned").len();
        let leases = {
            let mut leases = Vec::with_capacity(count);
            for _ in 0..count {
                leases.push(self.lease().await?);
            }
            leases
        };
        for mut lease in leases {
            let ids = ids.clone();
            tokio::task::spawn_blocking(move || run(lease.session.as_mut().expect("leased"), &ids, scales, speakers))
                .await
                .map_err(|e| EngineError::Inference(e.to_string()))??;
        }
        Ok(())
    }

    async fn lease(&self) -> Result<Lease, EngineError> {
        let started = Instant::now();
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| EngineError::Closed)?;
        metrics::histogram!(observed::SESSION_WAIT, "engine" => super::NAME).record(started.elapsed().as_secs_f64());
        let session = self.inner.free.lock().expect("not poisoned").pop();
        metrics::gauge!(observed::SESSIONS_BUSY, "engine" => super::NAME).increment(1.0);
        Ok(Lease {
            inner: self.inner.clone(),
            session: Some(session.expect("a permit guarantees a free session")),
            _permit: permit,
        })
    }

    /// One inference on a free session, on a blocking thread, in an `infer` span.
    pub async fn infer(&self, ids: Vec<i64>, scales: [f32; 3], speakers: u32) -> Result<Vec<f32>, EngineError> {
        let mut lease = self.lease().await?;
        let span = tracing::info_span!("infer", otel.name = "infer", orator.phoneme_ids = ids.len());
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            run(lease.session.as_mut().expect("leased"), &ids, scales, speakers)
        })
        .await
        .map_err(|e| EngineError::Inference(e.to_string()))?
    }
}

/// Piper's graph: `input` (ids), `input_lengths`, `scales`, and `sid` for multi-speaker
/// models (speaker 0); the output is the audio as floats.
fn run(session: &mut Session, ids: &[i64], scales: [f32; 3], speakers: u32) -> Result<Vec<f32>, EngineError> {
    let fail = |e: ort::Error| EngineError::Inference(e.to_string());
    let input = Tensor::from_array(([1usize, ids.len()], ids.to_vec())).map_err(fail)?;
    let lengths = Tensor::from_array(([1usize], vec![ids.len() as i64])).map_err(fail)?;
    let scales = Tensor::from_array(([3usize], scales.to_vec())).map_err(fail)?;
    let outputs = if speakers > 1 {
        let sid = Tensor::from_array(([1usize], vec![0i64])).map_err(fail)?;
        session.run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales, "sid" => sid])
    } else {
        session.run(ort::inputs!["input" => input, "input_lengths" => lengths, "scales" => scales])
    }
    .map_err(fail)?;
    let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
    Ok(audio.to_vec())
}
