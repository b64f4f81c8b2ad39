//! Fault injection for demos and fire drills: make workers fail or slow down a share of
//! jobs, or the api answer slowly. Off unless switched on, by environment variables at
//! start or at run time through the api's admin endpoint, which stores the setting in
//! Redis where every process picks it up.

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    cache::Redis,
    config::{self, ConfigError},
};

/// Longest injected delay, in milliseconds.
pub const MAX_INJECTED_MS: u64 = 60_000;

/// What to inject. All zero means no faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of jobs (0–1) whose synthesis fails.
    pub worker_fail_ratio: f64,
    /// Extra synthesis delay in milliseconds…
    pub worker_delay_ms: u64,
    /// …applied to this share of jobs (0–1).
    pub worker_delay_ratio: f64,
    /// Extra latency on `/v1` requests in milliseconds…
    pub api_latency_ms: u64,
    /// …applied to this share of requests (0–1).
    pub api_latency_ratio: f64,
}

impl Faults {
    /// The start-up setting: `ORATOR_FAULT_*` variables, all off by default.
    pub fn from_env() -> Result<Self, ConfigError> {
        let ratio = |var: &'static str| {
            config::parse_checked(var, "0", |r: &f64| {
                if (0.0..=1.0).contains(r) {
                    Ok(())
                } else {
                    Err("must be between 0 and 1".into())
                }
            })
        };
        let faults = Self {
            worker_fail_ratio: ratio("ORATOR_FAULT_FAIL_RATIO")?,
            worker_delay_ms: config::parse("ORATOR_FAULT_DELAY_MS", "0")?,
            worker_delay_ratio: ratio("ORATOR_FAULT_DELAY_RATIO")?,
            api_latency_ms: config::parse("ORATOR_FAULT_API_LATENCY_MS", "0")?,
            api_latency_ratio: ratio("ORATOR_FAULT_API_LATENCY_RATIO")?,
        };
        Ok(faults)
    }

    /// Checks ratios are within 0–1; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, r) in [
            ("worker_fail_ratio", self.worker_fail_ratio),
            ("worker_delay_ratio", self.worker_delay_ratio),
            ("api_latency_ratio", self.api_latency_ratio),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} must be between 0 and 1, got {r}"));
            }
        }
        // An injected delay is held by a request or a job slot: past the sync timeout it only
        // ties them up longer.
        for (name, ms) in [
            ("worker_delay_ms", self.worker_delay_ms),
            ("api_latency_ms", self.api_latency_ms),
        ] {
            if ms > MAX_INJECTED_MS {
                return Err(format!("{name} must be at most {MAX_INJECTED_MS}, got {ms}"));
            }
        }
        Ok(())
    }

    /// True when anything is switched on.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// Rolls a die against `ratio`.
pub fn roll(ratio: f64) -> bool {
    ratio > 0.0 && rand::random::<f64>() < ratio
}

/// The setting in force in this process, refreshed from Redis.
#[derive(Clone)]
pub struct FaultSwitch {
    current: Arc<RwLock<Faults>>,
    defaults: Faults,
    redis: Redis,
}

const KEY: &str = "faults";

impl FaultSwitch {
    /// Starts from `defaults` (the environment) and polls Redis every `every`.
    pub fn start(redis: Redis, defaults: Faults, every: Duration) -> Self {
        let switch = Self {
            current: Arc::new(RwLock::new(defaults)),
            defaults,
            redis,
        };
        let poller = switch.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                poller.refresh().await;
            }
        });
        switch
    }

    /// The faults in force now.
    pub fn get(&self) -> Faults {
        *self.current.read().expect("fault switch poisoned")
    }

    async fn refresh(&self) {
        let stored = match self.redis.get_raw(KEY).await {
            Ok(Some(raw)) => serde_json::from_slice(&raw).unwrap_or(self.defaults),
            Ok(None) => self.defaults,
            // Keep the last known setting while Redis is away.
            Err(_) => return,
        };
        let mut current = self.current.write().expect("fault switch poisoned");
        if *current != stored {
            tracing::warn!(faults = ?stored, "fault injection changed");
            *current = stored;
        }
    }

    /// Sets the faults for every process (through Redis) and for this one at once.
    pub async fn set(&self, faults: Faults) -> Result<(), crate::cache::CacheError> {
        let raw = serde_json::to_vec(&faults).expect("serialisable");
        self.redis.set_raw(KEY, &raw).await?;
        *self.current.write().expect("fault switch poisoned") = faults;
        tracing::warn!(faults = ?faults, "fault injection set");
        Ok(())
    }

    /// Back to the start-up setting everywhere.
    pub async fn reset(&self) -> Result<(), crate::cache::CacheError> {
        self.redis.delete_raw(KEY).await?;
        *self.current.write().expect("fault switch poisoned") = self.defaults;
        tracing::warn!("fault injection reset");
        Ok(())
    }
}
