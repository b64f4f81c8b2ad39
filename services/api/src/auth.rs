//! Bearer-key authentication and per-key rate limiting, as an extractor: a handler that
//! takes a [`Caller`] is protected.

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{header, request::Parts},
};
use orator_core::{
    admission::Rejection,
    db::api_keys,
    metrics::{AUTH_FAILURES, RATE_LIMITED},
};
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::{error::ApiError, listener::ClientAddr, state::AppState};

/// The authenticated owner of the request's key.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The key's id (never the key).
    pub key_id: Uuid,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let Some(key) = key else {
            metrics::counter!(AUTH_FAILURES, "reason" => "missing").increment(1);
            return Err(ApiError::Unauthorized(
                "missing API key: send Authorization: Bearer <key>",
            ));
        };
        let client = parts
            .extensions
            .get::<ConnectInfo<ClientAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.0.ip());
        let digest = api_keys::digest(key);
        let key_id = match state.keys.get(&digest) {
            Some(Some(id)) => id,
            // Known bad: no lookup, but it still counts against the address.
            Some(None) => return Err(failed(state, client)),
            None => {
                // An address that keeps failing is refused before it costs a lookup.
                if let Some(after) = state.auth_failures.exhausted(&client) {
                    metrics::counter!(AUTH_FAILURES, "reason" => "throttled").increment(1);
                    return Err(ApiError::RateLimited(after));
                }
                let record = api_keys::authenticate(&state.pool, key).await?;
                state.keys.put(digest, record.as_ref().map(|r| r.id));
                match record {
                    Some(record) => record.id,
                    None => return Err(failed(state, client)),
                }
            }
        };
        let config = &state.config;
        match state
            .redis
            .rate_limit(&key_id.to_string(), config.rate_limit, config.rate_limit_window)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(retry_after)) => {
                metrics::counter!(RATE_LIMITED).increment(1);
                return Err(ApiError::RateLimited(retry_after));
            }
            // A saturated Redis pool means we are overloaded: shed rather than pile up.
            Err(e) if e.is_overload() => return Err(ApiError::Overloaded(Rejection::cache_busy())),
            // The shared limit lives in Redis; without it each process limits on its own.
            Err(e) => {
                tracing::debug!(error = %e, "rate limiter unavailable; limiting in process");
                if let Err(retry_after) = state.local_rate.hit(&key_id) {
                    metrics::counter!(RATE_LIMITED).increment(1);
                    return Err(ApiError::RateLimited(retry_after));
                }
            }
        }
        Ok(Self { key_id })
    }
}

fn failed(state: &AppState, client: IpAddr) -> ApiError {
    metrics::counter!(AUTH_FAILURES, "reason" => "invalid").increment(1);
    match state.auth_failures.hit(&client) {
        Ok(()) => ApiError::Unauthorized("invalid API key"),
        Err(after) => ApiError::RateLimited(after),
    }
}

/// Recently looked-up keys, by digest, so a busy client costs one database lookup per `ttl`
/// instead of one per request; unknown keys are remembered too, so repeating a bad key costs
/// no lookup. A revoked key keeps working for at most `ttl`.
#[derive(Clone)]
pub struct KeyCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<Vec<u8>, Entry>>>,
}

/// A key's id (`None`: no such key) and when it was looked up.
type Entry = (Option<Uuid>, Instant);

/// More distinct keys than this and the cache starts over: memory stays bounded.
const MAX_KEYS: usize = 10_000;

impl KeyCache {
    /// A cache whose entries live `ttl` (zero disables it).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Arc::default(),
        }
    }

    fn get(&self, digest: &[u8]) -> Option<Option<Uuid>> {
        let entries = self.entries.lock().expect("key cache poisoned");
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| *id)
    }

    fn put(&self, digest: Vec<u8>, id: Option<Uuid>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("key cache poisoned");
        if entries.len() >= MAX_KEYS {
            entries.clear();
        }
        entries.insert(digest, (id, Instant::now()));
    }
}
