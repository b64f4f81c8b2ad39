//! The api's settings, all from the environment.

use std::time::Duration;

use orator_core::{
    admission::{AdmissionConfig, AimdConfig},
    config::{self, Common, ConfigError},
};

/// Everything the api reads at start.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The settings the worker reads too (`ORATOR_HTTP_ADDR` defaults to `0.0.0.0:8000`).
    pub common: Common,
    /// `ORATOR_MIGRATE`: create the database and run migrations at start.
    pub migrate: bool,
    /// `ORATOR_BOOTSTRAP_API_KEY`: a key that exists after start.
    pub bootstrap_api_key: Option<String>,
    /// `ORATOR_MAX_INPUT_CHARS`.
    pub max_input_chars: usize,
    /// `ORATOR_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// `ORATOR_SYNC_TIMEOUT_MS`: how long sync speech waits for a worker.
    pub sync_timeout: Duration,
    /// `ORATOR_RATE_LIMIT`: requests per key per window.
    pub rate_limit: u32,
    /// `ORATOR_RATE_LIMIT_WINDOW_SECS`.
    pub rate_limit_window: Duration,
    /// `ORATOR_OUTBOX_POLL_MS`: relay poll interval (it is also woken on every commit).
    pub outbox_poll: Duration,
    /// `ORATOR_PIPER_*`: the neural voices listed and accepted (their configs only are read).
    pub piper: Option<orator_engine::piper::PiperConfig>,
    /// `ORATOR_MODEL_ENGINES`: `gpt-4o-mini-tts=espeak-ng,…`, instead of the best engine.
    pub model_engines: Vec<(String, String)>,
    /// `ORATOR_ADMIN_API_KEY`: enables `/admin/*` (fault injection, the alert webhook).
    pub admin_api_key: Option<String>,
    /// `ORATOR_INSTRUMENT_HTTP`: the HTTP tracing/metrics layer (off only to measure its cost).
    pub instrument_http: bool,
    /// `ORATOR_AUTH_CACHE_TTL_MS`: how long an authenticated key is trusted without a
    /// database lookup (also how long a revoked key keeps working); 0 disables the cache.
    pub auth_cache_ttl: Duration,
    /// `ORATOR_AUTH_FAILURES_PER_MINUTE`: failed authentications one client address may
    /// make per minute before it is answered 429 without a lookup.
    pub auth_failures_per_minute: u32,
    /// Admission control: `ORATOR_ADMISSION_MAX_IN_FLIGHT` (the fixed ceiling of the
    /// adaptive limit), `ORATOR_ADMISSION_MIN_IN_FLIGHT`, `ORATOR_ADMISSION_LATENCY_TARGET_MS`,
    /// `ORATOR_MAX_SYNC_WAITERS`, `ORATOR_ADMISSION_MAX_QUEUED_JOBS`,
    /// `ORATOR_ADMISSION_BACKLOG_POLL_MS`.
    pub admission: AdmissionConfig,
    /// `ORATOR_HOT_CACHE_BYTES`: budget of the in-process audio cache in front of Redis
    /// (0 disables it).
    pub hot_cache_bytes: u64,
    /// `ORATOR_HOT_CACHE_TTL_MS`: how long an entry stays in it.
    pub hot_cache_ttl: Duration,
    /// `ORATOR_MAX_CONNECTIONS`: open HTTP connections; beyond it new ones wait to be accepted.
    pub max_connections: usize,
    /// `ORATOR_CONSOLE_*`: the web console's links to the monitoring stack.
    pub console: ConsoleConfig,
}

/// What the web console at `/` needs to know beyond the API.
#[derive(Debug, Clone, Default)]
pub struct ConsoleConfig {
    /// `ORATOR_CONSOLE_JAEGER_URL`: Jaeger's UI as the browser reaches it; trace ids link there.
    pub jaeger_url: Option<String>,
    /// `ORATOR_CONSOLE_PROMETHEUS_URL`: Prometheus as the browser reaches it, for the SLIs
    /// (it answers cross-origin queries by default).
    pub prometheus_url: Option<String>,
    /// `ORATOR_CONSOLE_ALERTMANAGER_URL`: Alertmanager as the browser reaches it, for the
    /// active alerts.
    pub alertmanager_url: Option<String>,
    /// `ORATOR_CONSOLE_REFRESH_MS`: how often the status page reloads its numbers.
    pub refresh: Duration,
    /// `ORATOR_CONSOLE_DIR`: serve the console's files from this directory instead of the
    /// copies in the binary (for working on them).
    pub dir: Option<std::path::PathBuf>,
}

impl ConsoleConfig {
    fn from_env() -> Result<Self, ConfigError> {
        let dir = config::string("ORATOR_CONSOLE_DIR", "");
        Ok(Self {
            jaeger_url: base_url("ORATOR_CONSOLE_JAEGER_URL")?,
            prometheus_url: base_url("ORATOR_CONSOLE_PROMETHEUS_URL")?,
            alertmanager_url: base_url("ORATOR_CONSOLE_ALERTMANAGER_URL")?,
            refresh: config::millis("ORATOR_CONSOLE_REFRESH_MS", "5000")?.max(Duration::from_millis(500)),
            dir: (!dir.is_empty()).then(|| dir.into()),
        })
    }

    /// The page's Content-Security-Policy: its own files, the API, and the configured
    /// Prometheus and Alertmanager; audio from the blobs the playground makes.
    pub fn content_security_policy(&self) -> String {
        let mut connect = vec!["'self'"];
        connect.extend(self.prometheus_url.as_deref());
        connect.extend(self.alertmanager_url.as_deref());
        format!(
            "default-src 'self'; connect-src {}; media-src 'self' blob:; img-src 'self' data:; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            connect.join(" ")
        )
    }
}

/// An `http(s)://host[:port][/path]` URL without its trailing slash, or `None` when unset.
fn base_url(var: &'static str) -> Result<Option<String>, ConfigError> {
    let value = config::string(var, "");
    if value.is_empty() {
        return Ok(None);
    }
    let trimmed = value.trim_end_matches('/');
    let valid = ["http://", "https://"]
        .iter()
        .any(|scheme| trimmed.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
        && !trimmed.contains(|c: char| c.is_whitespace() || c == ';' || c == '\'' || c == '"');
    if !valid {
        return Err(ConfigError {
            var,
            value,
            reason: "must be an http:// or https:// URL".into(),
        });
    }
    Ok(Some(trimmed.to_owned()))
}

impl ApiConfig {
    /// Reads the environment; the error names the variable at fault.
    pub fn from_env() -> Result<Self, ConfigError> {
        let bootstrap = config::string("ORATOR_BOOTSTRAP_API_KEY", "");
        Ok(Self {
            common: Common::from_env("0.0.0.0:8000")?,
            migrate: config::flag("ORATOR_MIGRATE", true)?,
            bootstrap_api_key: (!bootstrap.is_empty()).then_some(bootstrap),
            max_input_chars: config::positive("ORATOR_MAX_INPUT_CHARS", "4096")? as usize,
            max_body_bytes: config::positive("ORATOR_MAX_BODY_BYTES", "65536")? as usize,
            sync_timeout: config::millis("ORATOR_SYNC_TIMEOUT_MS", "30000")?,
            rate_limit: config::positive("ORATOR_RATE_LIMIT", "600")?,
            rate_limit_window: Duration::from_secs(config::positive("ORATOR_RATE_LIMIT_WINDOW_SECS", "60")?.into()),
            outbox_poll: config::millis("ORATOR_OUTBOX_POLL_MS", "500")?,
            piper: config::piper()?,
            model_engines: config::model_engines()?,
            admin_api_key: Some(config::string("ORATOR_ADMIN_API_KEY", "")).filter(|k| !k.is_empty()),
            instrument_http: config::flag("ORATOR_INSTRUMENT_HTTP", true)?,
            auth_cache_ttl: config::millis("ORATOR_AUTH_CACHE_TTL_MS", "5000")?,
            auth_failures_per_minute: config::positive("ORATOR_AUTH_FAILURES_PER_MINUTE", "30")?,
            admission: admission()?,
            hot_cache_bytes: config::parse("ORATOR_HOT_CACHE_BYTES", "8388608")?,
            hot_cache_ttl: config::millis("ORATOR_HOT_CACHE_TTL_MS", "10000")?,
            max_connections: config::positive("ORATOR_MAX_CONNECTIONS", "512")? as usize,
            console: ConsoleConfig::from_env()?,
        })
    }
}

/// Admission defaults, measured on 2 cores (docs/benchmarks.md): the in-flight limit starts
/// at 64 and adapts between 8 and 256 on a 20 ms latency target (a cache hit takes about
/// 1 ms, so a mean of 20 ms means requests are queueing inside the process); 32 sync
/// waiters keep a worker of ~60 syntheses/s busy with every waiter answered within about
/// half a second; 600 queued jobs is what such a worker finishes within the 10 s
/// job-latency objective.
fn admission() -> Result<AdmissionConfig, ConfigError> {
    let max = config::positive("ORATOR_ADMISSION_MAX_IN_FLIGHT", "256")? as usize;
    let min = config::parse_checked("ORATOR_ADMISSION_MIN_IN_FLIGHT", "8", |v: &usize| {
        if (1..=max).contains(v) {
            Ok(())
        } else {
            Err(format!("must be between 1 and ORATOR_ADMISSION_MAX_IN_FLIGHT ({max})"))
        }
    })?;
    Ok(AdmissionConfig {
        in_flight: AimdConfig {
            min,
            max,
            initial: 64,
            latency_target: config::millis("ORATOR_ADMISSION_LATENCY_TARGET_MS", "20")?,
            backoff: 0.9,
        },
        max_sync_waiters: config::positive("ORATOR_MAX_SYNC_WAITERS", "32")? as usize,
        max_queued_jobs: config::positive("ORATOR_ADMISSION_MAX_QUEUED_JOBS", "600")?.into(),
        backlog_poll: config::millis("ORATOR_ADMISSION_BACKLOG_POLL_MS", "1000")?,
    })
}
