//! The worker's settings, all from the environment.

use std::{net::SocketAddr, time::Duration};

use orator_core::{
    config::{self, ConfigError, Connections},
    db::maintenance::Retention,
    faults::Faults,
};

/// Everything the worker reads at start.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Shared connection settings.
    pub connections: Connections,
    /// `ORATOR_HTTP_ADDR`: health and metrics server.
    pub http_addr: SocketAddr,
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
    /// `ORATOR_CACHE_TTL_SECS`.
    pub cache_ttl: Duration,
    /// `ORATOR_ESPEAK_BINARY`.
    pub espeak_binary: String,
    /// `ORATOR_PIPER_*` and `ORATOR_ONNXRUNTIME_LIB`: the neural voices and their runtime.
    pub piper: Option<(orator_engine::piper::PiperConfig, orator_engine::piper::RuntimeConfig)>,
    /// `ORATOR_TRACE_QUEUE_LINK`: start a new trace per consumed job, linked to the
    /// publisher's span, instead of continuing the publisher's trace.
    pub trace_queue_link: bool,
    /// `ORATOR_GAUGE_INTERVAL_MS`: how often queue depths and pool stats are polled.
    pub gauge_interval: Duration,
    /// `ORATOR_FAULT_*`: faults injected from the start (off by default).
    pub faults: Faults,
    /// `ORATOR_JOB_LEASE_MS` (default twice the synthesis timeout), `ORATOR_SWEEP_INTERVAL_MS`,
    /// `ORATOR_{AUDIO,JOB,OUTBOX}_RETENTION_HOURS` and `ORATOR_RETENTION_INTERVAL_MS`.
    pub maintenance: crate::maintenance::Settings,
    /// `ORATOR_METRICS_TOKEN` or `ORATOR_METRICS_TOKEN_FILE`: bearer token for `/metrics`.
    pub metrics_token: Option<String>,
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
            connections: Connections::from_env()?,
            http_addr: config::parse("ORATOR_HTTP_ADDR", "0.0.0.0:8001")?,
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
            cache_ttl: std::time::Duration::from_secs(config::positive("ORATOR_CACHE_TTL_SECS", "86400")?.into()),
            espeak_binary: config::string("ORATOR_ESPEAK_BINARY", "espeak-ng"),
            piper: match config::piper()? {
                Some(voices) => Some((voices, config::piper_runtime()?)),
                None => None,
            },
            trace_queue_link: config::flag("ORATOR_TRACE_QUEUE_LINK", false)?,
            gauge_interval: config::millis("ORATOR_GAUGE_INTERVAL_MS", "5000")?,
            faults: Faults::from_env()?,
            metrics_token: config::metrics_token()?,
        })
    }
}
