//! Environment configuration: every setting has a variable and a working local default,
//! and a bad value names its variable.

use std::{net::SocketAddr, str::FromStr, time::Duration};

use crate::{breaker::BreakerConfig, faults::Faults};

/// A setting that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid value {value:?} for {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable.
    pub var: &'static str,
    /// What it held.
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Reads `var`, or `default` when unset or empty.
pub fn string(var: &'static str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

/// Reads and parses `var`, or parses `default` when unset.
pub fn parse<T>(var: &'static str, default: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let value = string(var, default);
    value.parse().map_err(|e: T::Err| ConfigError {
        var,
        value,
        reason: e.to_string(),
    })
}

/// Like [`parse`], then checks the value with `valid`, whose error text names the rule.
pub fn parse_checked<T>(
    var: &'static str,
    default: &str,
    valid: impl Fn(&T) -> Result<(), String>,
) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let v = parse(var, default)?;
    valid(&v).map_err(|reason| ConfigError {
        var,
        value: string(var, default),
        reason,
    })?;
    Ok(v)
}

/// A positive integer setting.
pub fn positive(var: &'static str, default: &str) -> Result<u32, ConfigError> {
    parse_checked(var, default, |v: &u32| {
        if *v > 0 {
            Ok(())
        } else {
            Err("must be at least 1".into())
        }
    })
}

/// A duration given in milliseconds.
pub fn millis(var: &'static str, default: &str) -> Result<Duration, ConfigError> {
    parse::<u64>(var, default).map(Duration::from_millis)
}

/// A boolean: true/false, 1/0, yes/no, on/off.
pub fn flag(var: &'static str, default: bool) -> Result<bool, ConfigError> {
    let value = string(var, if default { "true" } else { "false" });
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError {
            var,
            value,
            reason: "expected true or false".into(),
        }),
    }
}

/// `ORATOR_METRICS_TOKEN`, or the content of the file `ORATOR_METRICS_TOKEN_FILE` names:
/// the bearer token `/metrics` asks for (unset: `/metrics` is open).
pub fn metrics_token() -> Result<Option<String>, ConfigError> {
    let file = string("ORATOR_METRICS_TOKEN_FILE", "");
    if !file.is_empty() {
        return std::fs::read_to_string(&file)
            .map(|t| Some(t.trim().to_owned()).filter(|t| !t.is_empty()))
            .map_err(|e| ConfigError {
                var: "ORATOR_METRICS_TOKEN_FILE",
                value: file,
                reason: e.to_string(),
            });
    }
    Ok(Some(string("ORATOR_METRICS_TOKEN", "")).filter(|t| !t.is_empty()))
}

/// The settings both binaries read, under the same variables and defaults.
#[derive(Debug, Clone)]
pub struct Common {
    /// Where PostgreSQL, Redis and RabbitMQ are, and how to talk to them.
    pub connections: Connections,
    /// `ORATOR_HTTP_ADDR`: where the process serves (the api its API, the worker its probes).
    pub http_addr: SocketAddr,
    /// `ORATOR_CACHE_TTL_SECS`: how long synthesised audio stays in Redis.
    pub cache_ttl: Duration,
    /// `ORATOR_ESPEAK_BINARY`.
    pub espeak_binary: String,
    /// `ORATOR_GAUGE_INTERVAL_MS`: how often the gauges read from PostgreSQL and RabbitMQ
    /// (jobs by status, the outbox, queue depths, pool stats) are polled.
    pub gauge_interval: Duration,
    /// `ORATOR_FAULT_*`: faults injected from the start (off by default).
    pub faults: Faults,
    /// `ORATOR_METRICS_TOKEN` or `ORATOR_METRICS_TOKEN_FILE`: bearer token for `/metrics`.
    pub metrics_token: Option<String>,
}

impl Common {
    /// Reads the shared settings; `default_addr` is the process's own `ORATOR_HTTP_ADDR`
    /// default (the api and a worker on one machine must not collide).
    pub fn from_env(default_addr: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            connections: Connections::from_env()?,
            http_addr: parse("ORATOR_HTTP_ADDR", default_addr)?,
            cache_ttl: Duration::from_secs(positive("ORATOR_CACHE_TTL_SECS", "86400")?.into()),
            espeak_binary: string("ORATOR_ESPEAK_BINARY", "espeak-ng"),
            gauge_interval: millis("ORATOR_GAUGE_INTERVAL_MS", "5000")?,
            faults: Faults::from_env()?,
            metrics_token: metrics_token()?,
        })
    }
}

/// Connection settings shared by both binaries.
#[derive(Debug, Clone)]
pub struct Connections {
    /// `DATABASE_URL`.
    pub database_url: String,
    /// `ORATOR_DB_MAX_CONNECTIONS`.
    pub db_max_connections: u32,
    /// `ORATOR_DB_STATEMENT_TIMEOUT_MS`: PostgreSQL's `statement_timeout` for every session.
    pub db_statement_timeout: Duration,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `ORATOR_REDIS_PREFIX`: prepended to every Redis key, so runs can share a server.
    pub redis_prefix: String,
    /// `AMQP_URL`.
    pub amqp_url: String,
    /// `ORATOR_QUEUE_PREFIX`: prepended to every exchange and queue name.
    pub queue_prefix: String,
    /// `ORATOR_HEALTH_TIMEOUT_MS`: per-check timeout.
    pub health_timeout: Duration,
    /// `ORATOR_REDIS_TIMEOUT_MS`: bound on every Redis call.
    pub redis_timeout: Duration,
    /// `ORATOR_REDIS_POOL_SIZE`: Redis connections per process.
    pub redis_pool_size: usize,
    /// `ORATOR_REDIS_BREAKER_FAILURES` and `ORATOR_REDIS_BREAKER_OPEN_MS`: consecutive
    /// Redis failures that open the breaker, and how long it stays open.
    pub redis_breaker: BreakerConfig,
}

impl Connections {
    /// Reads the connection settings from the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: string("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orator"),
            db_max_connections: positive("ORATOR_DB_MAX_CONNECTIONS", "10")?,
            db_statement_timeout: millis("ORATOR_DB_STATEMENT_TIMEOUT_MS", "10000")?,
            redis_url: string("REDIS_URL", "redis://127.0.0.1:6379"),
            redis_prefix: string("ORATOR_REDIS_PREFIX", "orator:"),
            amqp_url: string("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            queue_prefix: string("ORATOR_QUEUE_PREFIX", ""),
            health_timeout: millis("ORATOR_HEALTH_TIMEOUT_MS", "1000")?,
            redis_timeout: millis("ORATOR_REDIS_TIMEOUT_MS", "250")?,
            redis_pool_size: positive("ORATOR_REDIS_POOL_SIZE", "32")? as usize,
            redis_breaker: BreakerConfig {
                failures: positive("ORATOR_REDIS_BREAKER_FAILURES", "5")?,
                open_for: millis("ORATOR_REDIS_BREAKER_OPEN_MS", "5000")?,
            },
        })
    }

    /// The Redis handle these settings describe (connects lazily).
    pub fn redis(&self) -> Result<crate::cache::Redis, deadpool_redis::CreatePoolError> {
        crate::cache::Redis::new(
            &self.redis_url,
            self.redis_prefix.clone(),
            self.redis_timeout,
            self.redis_pool_size,
            crate::breaker::Breaker::new(self.redis_breaker, crate::cache::BREAKER_OPEN),
        )
    }
}

/// `ORATOR_PIPER_VOICES` (comma-separated `.onnx` paths; unset or empty: no neural engine),
/// `ORATOR_PIPER_ALIASES` (`alloy=en_US-joe-medium,…`; unset: every OpenAI name maps to the
/// first voice), `ORATOR_PIPER_DETERMINISTIC` (noise scales 0, for tests) and
/// `ORATOR_ESPEAK_BINARY` (phonemes).
pub fn piper() -> Result<Option<orator_engine::piper::PiperConfig>, ConfigError> {
    let voices: Vec<std::path::PathBuf> = list("ORATOR_PIPER_VOICES").into_iter().map(Into::into).collect();
    if voices.is_empty() {
        return Ok(None);
    }
    let aliases = Some(pairs("ORATOR_PIPER_ALIASES")?).filter(|p| !p.is_empty());
    Ok(Some(orator_engine::piper::PiperConfig {
        voices,
        aliases,
        espeak_binary: string("ORATOR_ESPEAK_BINARY", "espeak-ng").into(),
        deterministic: flag("ORATOR_PIPER_DETERMINISTIC", false)?,
    }))
}

/// `ORATOR_ONNXRUNTIME_LIB`, `ORATOR_PIPER_SESSIONS` (default 1) and `ORATOR_PIPER_THREADS`
/// (default: the cores shared among the sessions). Sessions x threads may not exceed the
/// cores: past that, inferences only slow each other down.
pub fn piper_runtime() -> Result<orator_engine::piper::RuntimeConfig, ConfigError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let sessions = positive("ORATOR_PIPER_SESSIONS", "1")? as usize;
    let threads = positive("ORATOR_PIPER_THREADS", &(cores / sessions).max(1).to_string())? as usize;
    if sessions * threads > cores {
        return Err(ConfigError {
            var: "ORATOR_PIPER_THREADS",
            value: threads.to_string(),
            reason: format!("{sessions} sessions (ORATOR_PIPER_SESSIONS) x {threads} threads exceed the {cores} cores"),
        });
    }
    Ok(orator_engine::piper::RuntimeConfig {
        library: string("ORATOR_ONNXRUNTIME_LIB", ".models/onnxruntime/libonnxruntime.so.1.31.1").into(),
        sessions,
        threads,
    })
}

/// `ORATOR_MODEL_ENGINES`: `gpt-4o-mini-tts=espeak-ng,…`, the engine that serves an OpenAI
/// model name instead of the best one configured.
pub fn model_engines() -> Result<Vec<(String, String)>, ConfigError> {
    pairs("ORATOR_MODEL_ENGINES")
}

/// A comma-separated list of `name=value` pairs (names in lower case).
fn pairs(var: &'static str) -> Result<Vec<(String, String)>, ConfigError> {
    list(var)
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned())),
            None => Err(ConfigError {
                var,
                value: pair.clone(),
                reason: "expected name=value pairs, separated by commas".into(),
            }),
        })
        .collect()
}

/// A comma-separated variable's non-empty items.
fn list(var: &'static str) -> Vec<String> {
    string(var, "")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_variable() {
        // SAFETY: the variable is unique to this test.
        unsafe { std::env::set_var("ORATOR_TEST_CONFIG_NUMBER", "many") };
        let err = positive("ORATOR_TEST_CONFIG_NUMBER", "1").unwrap_err();
        assert!(err.to_string().contains("ORATOR_TEST_CONFIG_NUMBER"), "{err}");
        unsafe { std::env::set_var("ORATOR_TEST_CONFIG_NUMBER", "0") };
        let err = positive("ORATOR_TEST_CONFIG_NUMBER", "1").unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        assert_eq!(positive("ORATOR_TEST_CONFIG_UNSET", "7").unwrap(), 7);
    }
}
