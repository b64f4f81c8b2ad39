//! The worker's settings, all from the environment.

use std::time::Duration;

use orator_core::{
    config::{self, Common, ConfigError},
    db::maintenance::Retention,
};

/// Everything the worker reads at start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The settings the api reads too (`ORATOR_HTTP_ADDR`, where the probes and `/metrics`
    /// are served, defaults to `0.0.0.0:8001`).
    pub common: Common,
    /// `ORATOR_PREFETCH`: unacknowledged messages held at once (= jobs in flight).
    pub prefetch: u16,
    /// `ORATOR_ENGINE_CONCURRENCY`: espeak-ng processes at once.
    pub engine_concurrency: usize,
    /// `ORATOR_MAX_ATTEMPTS`: attempts before a job is dead-lettered and failed.
    pub max_attempts: u32,
    /// `ORATOR_RETRY_BASE_MS`: first retry delay; it doubles with each attempt.
    pub retry_base: Duration,
    /// `ORATOR_SHUTDOWN_GRACE_MS`: how long in-flight jobs may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// `ORATOR_SYNTHESIS_TIMEOUT_MS`: bound on one synthesis.
    pub synthesis_timeout: Duration,
    /// `ORATOR_MAX_AUDIO_SECONDS`: longest audio one job may produce; longer fails the job
    /// (`audio_too_long`, not retried).
    pub max_audio: Duration,
    /// `ORATOR_PIPER_*` and `ORATOR_ONNXRUNTIME_LIB`: the neural voices and their runtime.
    pub piper: Option<(orator_engine::piper::PiperConfig, orator_engine::piper::RuntimeConfig)>,
    /// `ORATOR_TRACE_QUEUE_LINK`: start a new trace per consumed job, linked to the
    /// publisher's span, instead of continuing the publisher's trace.
    pub trace_queue_link: bool,
    /// `ORATOR_JOB_LEASE_MS` (default twice the synthesis timeout), `ORATOR_SWEEP_INTERVAL_MS`,
    /// `ORATOR_{AUDIO,JOB,OUTBOX}_RETENTION_HOURS` and `ORATOR_RETENTION_INTERVAL_MS`.
    pub maintenance: crate::maintenance::Settings,
}

impl WorkerConfig {
    /// Reads the environment; the error names the variable at fault.
    pub fn from_env() -> Result<Self, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get()).to_string();
        let synthesis_timeout = config::millis("ORATOR_SYNTHESIS_TIMEOUT_MS", "60000")?;
        let max_attempts = config::positive("ORATOR_MAX_ATTEMPTS", "3")?;
        let hours = |var: &'static str, default: &str| {
            config::parse_checked(var, default, |h: &f64| {
                if h.is_finite() && *h >= 0.0 {
                    Ok(())
                } else {
                    Err("must be a number of hours, 0 or more".into())
                }
            })
            .map(|h| Duration::from_secs_f64(h * 3600.0))
        };
        let maintenance = crate::maintenance::Settings {
            lease: config::millis("ORATOR_JOB_LEASE_MS", &(2 * synthesis_timeout.as_millis()).to_string())?,
            max_attempts,
            sweep_every: config::millis("ORATOR_SWEEP_INTERVAL_MS", "30000")?.max(Duration::from_millis(10)),
            retention: Retention {
                audio: hours("ORATOR_AUDIO_RETENTION_HOURS", "168")?,
                jobs: hours("ORATOR_JOB_RETENTION_HOURS", "720")?,
                outbox: hours("ORATOR_OUTBOX_RETENTION_HOURS", "24")?,
            },
            reap_every: config::millis("ORATOR_RETENTION_INTERVAL_MS", "60000")?.max(Duration::from_millis(10)),
        };
        Ok(Self {
            maintenance,
            common: Common::from_env("0.0.0.0:8001")?,
            prefetch: config::parse_checked("ORATOR_PREFETCH", "8", |v: &u16| {
                if *v > 0 {
                    Ok(())
                } else {
                    Err("must be at least 1".into())
                }
            })?,
            engine_concurrency: config::positive("ORATOR_ENGINE_CONCURRENCY", &cpus)? as usize,
            max_attempts,
            retry_base: config::millis("ORATOR_RETRY_BASE_MS", "1000")?,
            shutdown_grace: config::millis("ORATOR_SHUTDOWN_GRACE_MS", "30000")?,
            synthesis_timeout,
            max_audio: Duration::from_secs(config::positive("ORATOR_MAX_AUDIO_SECONDS", "300")?.into()),
            piper: match config::piper()? {
                Some(voices) => Some((voices, config::piper_runtime()?)),
                None => None,
            },
            trace_queue_link: config::flag("ORATOR_TRACE_QUEUE_LINK", false)?,
        })
    }
}
