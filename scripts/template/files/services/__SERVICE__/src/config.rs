//! Settings, all from the environment: each has a working local default, and a bad value
//! names its variable.

use std::{net::SocketAddr, time::Duration};

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

/// Everything the service reads at start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `__ENV___HTTP_ADDR`.
    pub http_addr: SocketAddr,
    /// `__ENV___METRICS_TOKEN`: bearer token for `/metrics` (unset: open).
    pub metrics_token: Option<String>,
    /// `__ENV___HEALTH_TIMEOUT_MS`: per-check timeout.
    pub health_timeout: Duration,
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            http_addr: parse("__ENV___HTTP_ADDR", "0.0.0.0:8080")?,
            metrics_token: Some(string("__ENV___METRICS_TOKEN", "")).filter(|t| !t.is_empty()),
            health_timeout: Duration::from_millis(parse("__ENV___HEALTH_TIMEOUT_MS", "1000")?),
        })
    }
}

fn string(var: &'static str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => default.to_owned(),
    }
}

fn parse<T>(var: &'static str, default: &str) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let value = string(var, default);
    value.parse().map_err(|e: T::Err| ConfigError {
        var,
        value,
        reason: e.to_string(),
    })
}
