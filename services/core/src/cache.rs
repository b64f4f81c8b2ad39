//! Redis: the content-addressed audio cache and per-key rate limits. Redis is an
//! optimisation here, so a Redis that is down is bypassed, never a failure; but a Redis
//! that is slow because we are overloaded is a reason to shed, not to synthesise (see
//! [`CacheError::is_overload`]). A circuit breaker tells the two apart: repeated failures
//! open it, and while open every call fails at once without touching the pool.

use std::time::Duration;

use deadpool_redis::{Config, Connection, Pool, PoolConfig, Runtime, Timeouts, redis};

use crate::breaker::Breaker;

/// Cache operations by `operation` (get, set) and `result` (hit, miss, ok, error).
pub const CACHE_OPERATIONS: &str = "cache_operations_total";
/// Bytes read from (hits) and written to the cache.
pub const CACHE_BYTES: &str = "cache_bytes_total";
/// 1 while the Redis breaker is open.
pub const BREAKER_OPEN: &str = "orator_cache_breaker_open";

/// A Redis operation that failed or took too long.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Could not get a connection.
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    /// The command failed.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The operation took longer than its timeout.
    #[error("redis operation timed out")]
    Timeout,
    /// Every pooled connection is busy: this process has more Redis work than it can do.
    #[error("redis pool saturated")]
    Busy,
    /// The breaker is open after repeated failures: Redis is taken to be down.
    #[error("redis circuit breaker open")]
    Open,
}

impl CacheError {
    /// True when the error says "we are overloaded" (shed the request) rather than
    /// "Redis is down" (bypass the cache).
    pub fn is_overload(&self) -> bool {
        matches!(self, Self::Busy | Self::Timeout)
    }
}

/// Redis handle shared by the cache, the rate limiter and the health check.
#[derive(Clone)]
pub struct Redis {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    breaker: Breaker,
}

impl Redis {
    /// Connects lazily to `url` with up to `pool_size` connections. Every key gets
    /// `prefix`; every operation, connecting included, is bounded by `timeout`, so a dead
    /// Redis costs a request at most that. Waiting for a pooled connection is bounded by
    /// half of it, so a saturated pool answers [`CacheError::Busy`] before the timeout.
    pub fn new(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
        pool_size: usize,
        breaker: Breaker,
    ) -> Result<Self, deadpool_redis::CreatePoolError> {
        let mut cfg = Config::from_url(url);
        cfg.pool = Some(PoolConfig {
            max_size: pool_size,
            timeouts: Timeouts {
                wait: Some(timeout / 2),
                create: Some(timeout),
                recycle: Some(timeout),
            },
            ..PoolConfig::default()
        });
        let pool = cfg.create_pool(Some(Runtime::Tokio1))?;
        Ok(Self {
            pool,
            prefix: prefix.into(),
            timeout,
            breaker,
        })
    }

    /// Full key name for `parts`.
    pub fn key(&self, parts: &[&str]) -> String {
        format!("{}{}", self.prefix, parts.join(":"))
    }

    /// Runs one traced, timed operation, bounded by the timeout and guarded by the breaker.
    async fn with_conn<T, F>(&self, operation: &'static str, f: F) -> Result<T, CacheError>
    where
        F: AsyncFnOnce(&mut Connection) -> Result<T, redis::RedisError>,
    {
        let Some(trial) = self.breaker.try_call() else {
            return Err(CacheError::Open);
        };
        let work = async {
            let mut conn = self.pool.get().await.map_err(|e| match e {
                deadpool_redis::PoolError::Timeout(deadpool_redis::TimeoutType::Wait) => CacheError::Busy,
                e => CacheError::Pool(e),
            })?;
            Ok(f(&mut conn).await?)
        };
        let bounded = async {
            tokio::time::timeout(self.timeout, work)
                .await
                .map_err(|_| CacheError::Timeout)?
        };
        let result = orator_telemetry::instrument::cache("redis", operation, bounded).await;
        match &result {
            // A full pool says nothing about Redis's health.
            Err(CacheError::Busy) => trial.neutral(),
            Err(_) => trial.failed(),
            Ok(_) => trial.succeeded(),
        }
        result
    }

    /// `PING`.
    pub async fn ping(&self) -> Result<(), CacheError> {
        self.with_conn("ping", async |c| redis::cmd("PING").query_async::<String>(c).await)
            .await
            .map(drop)
    }

    /// Cached audio for `cache_key`; counts hits, misses and errors.
    pub async fn get_audio(&self, cache_key: &str) -> Result<Option<CachedAudio>, CacheError> {
        let key = self.key(&["audio", cache_key]);
        let raw: Result<Option<Vec<u8>>, _> = self
            .with_conn("get", async |c| redis::cmd("GET").arg(&key).query_async(c).await)
            .await;
        match &raw {
            Ok(Some(bytes)) => count_hit(bytes.len()),
            Ok(None) => metrics::counter!(CACHE_OPERATIONS, "operation" => "get", "result" => "miss").increment(1),
            Err(_) => metrics::counter!(CACHE_OPERATIONS, "operation" => "get", "result" => "error").increment(1),
        }
        Ok(raw?.and_then(CachedAudio::decode))
    }

    /// Caches audio for `ttl`.
    pub async fn put_audio(&self, cache_key: &str, audio: &CachedAudio, ttl: Duration) -> Result<(), CacheError> {
        let key = self.key(&["audio", cache_key]);
        let value = audio.encode();
        let result = self
            .with_conn("set", async |c| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("EX")
                    .arg(ttl.as_secs().max(1))
                    .query_async::<()>(c)
                    .await
            })
            .await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(CACHE_OPERATIONS, "operation" => "set", "result" => outcome).increment(1);
        if result.is_ok() {
            metrics::counter!(CACHE_BYTES, "operation" => "set").increment(value.len() as u64);
        }
        result
    }

    /// Removes cached audio for `cache_key`.
    pub async fn delete_audio(&self, cache_key: &str) -> Result<(), CacheError> {
        let key = self.key(&["audio", cache_key]);
        self.with_conn("del", async |c| redis::cmd("DEL").arg(&key).query_async::<()>(c).await)
            .await
    }

    /// A small value under `name` (no expiry), for settings shared by all processes.
    pub async fn get_raw(&self, name: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let key = self.key(&[name]);
        self.with_conn("get", async |c| redis::cmd("GET").arg(&key).query_async(c).await)
            .await
    }

    /// Stores a small value under `name`.
    pub async fn set_raw(&self, name: &str, value: &[u8]) -> Result<(), CacheError> {
        let key = self.key(&[name]);
        self.with_conn("set", async |c| {
            redis::cmd("SET").arg(&key).arg(value).query_async::<()>(c).await
        })
        .await
    }

    /// Removes `name`.
    pub async fn delete_raw(&self, name: &str) -> Result<(), CacheError> {
        let key = self.key(&[name]);
        self.with_conn("del", async |c| redis::cmd("DEL").arg(&key).query_async::<()>(c).await)
            .await
    }

    /// Counts one request against `subject`'s fixed window; `Err(retry_after)` past `limit`.
    pub async fn rate_limit(
        &self,
        subject: &str,
        limit: u32,
        window: Duration,
    ) -> Result<Result<(), Duration>, CacheError> {
        let window_secs = window.as_secs().max(1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let slot = now / window_secs;
        let key = self.key(&["ratelimit", subject, &slot.to_string()]);
        let (count,): (u64,) = self
            .with_conn("ratelimit", async |c| {
                redis::pipe()
                    .cmd("INCR")
                    .arg(&key)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(window_secs)
                    .ignore()
                    .query_async(c)
                    .await
            })
            .await?;
        if count > u64::from(limit) {
            Ok(Err(Duration::from_secs((slot + 1) * window_secs - now)))
        } else {
            Ok(Ok(()))
        }
    }
}

/// Counts a cache hit of `bytes`, whichever tier answered it (the hit ratio is the
/// cache's, not Redis's alone).
pub fn count_hit(bytes: usize) {
    metrics::counter!(CACHE_BYTES, "operation" => "get").increment(bytes as u64);
    metrics::counter!(CACHE_OPERATIONS, "operation" => "get", "result" => "hit").increment(1);
}

/// Audio as cached: the bytes plus the sample rate, which a raw `pcm` answer must state.
/// The bytes are shared, so handing them to several responses copies nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAudio {
    /// Sample rate of the encoded audio.
    pub sample_rate: u32,
    /// Length of the audio (0 when unknown: entries cached before it was kept).
    pub duration_ms: u32,
    /// Encoded bytes.
    pub bytes: bytes::Bytes,
}

/// Leads the entries that carry their duration; an older entry starts with its sample
/// rate, which is never this.
const WITH_DURATION: [u8; 4] = u32::MAX.to_le_bytes();

impl CachedAudio {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(12 + self.bytes.len());
        v.extend_from_slice(&WITH_DURATION);
        v.extend_from_slice(&self.sample_rate.to_le_bytes());
        v.extend_from_slice(&self.duration_ms.to_le_bytes());
        v.extend_from_slice(&self.bytes);
        v
    }

    fn decode(raw: Vec<u8>) -> Option<Self> {
        let word = |at: usize| Some(u32::from_le_bytes(raw.get(at..at + 4)?.try_into().ok()?));
        let (rate, duration_ms, start) = if raw.get(..4)? == WITH_DURATION {
            (word(4)?, word(8)?, 12)
        } else {
            (word(0)?, 0, 4)
        };
        Some(Self {
            sample_rate: rate,
            duration_ms,
            bytes: bytes::Bytes::from(raw).slice(start..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_audio_round_trips() {
        let audio = CachedAudio {
            sample_rate: 22050,
            duration_ms: 1234,
            bytes: vec![1, 2, 3].into(),
        };
        assert_eq!(CachedAudio::decode(audio.encode()), Some(audio));
        assert_eq!(CachedAudio::decode(vec![1, 2]), None);
        // An entry cached before durations were kept.
        let old = CachedAudio::decode([22_050u32.to_le_bytes().as_slice(), &[7, 8]].concat()).unwrap();
        assert_eq!(
            (old.sample_rate, old.duration_ms, &old.bytes[..]),
            (22_050, 0, &[7u8, 8][..])
        );
    }
}
