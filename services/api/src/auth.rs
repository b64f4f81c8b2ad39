//! Bearer-key authentication and per-key rate limiting, as an extractor: a handler that
//! takes a [`Caller`] is protected.

use axum::{extract::FromRequestParts, http::header, http::request::Parts};
use orator_core::{
    admission::Rejection,
    db::api_keys,
    metrics::{AUTH_FAILURES, RATE_LIMITED},
};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::{error::ApiError, state::AppState};

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
        let digest = api_keys::digest(key);
        let key_id = match state.keys.get(&digest) {
            Some(id) => id,
            None => {
                let Some(record) = api_keys::authenticate(&state.pool, key).await? else {
                    metrics::counter!(AUTH_FAILURES, "reason" => "invalid").increment(1);
                    return Err(ApiError::Unauthorized("invalid API key"));
                };
                state.keys.put(digest, record.id);
                record.id
            }
        };
        let record = KeyRef { id: key_id };
        let config = &state.config;
        match state
            .redis
            .rate_limit(&record.id.to_string(), config.rate_limit, config.rate_limit_window)
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(retry_after)) => {
                metrics::counter!(RATE_LIMITED).increment(1);
                return Err(ApiError::RateLimited(retry_after));
            }
            // A saturated Redis pool means we are overloaded: shed rather than pile up.
            Err(e) if e.is_overload() => return Err(ApiError::Overloaded(Rejection::cache_busy())),
            // Limits live in Redis; without it, serving beats refusing everyone.
            Err(e) => tracing::debug!(error = %e, "rate limiter unavailable; request allowed"),
        }
        Ok(Self { key_id: record.id })
    }
}

struct KeyRef {
    id: Uuid,
}

/// Recently authenticated keys, by digest, so a busy client costs one database lookup per
/// `ttl` instead of one per request. A revoked key keeps working for at most `ttl`.
#[derive(Clone)]
pub struct KeyCache {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<Vec<u8>, Entry>>>,
}

/// A key's id and when it was looked up.
type Entry = (Uuid, Instant);

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

    fn get(&self, digest: &[u8]) -> Option<Uuid> {
        let entries = self.entries.lock().expect("key cache poisoned");
        entries
            .get(digest)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| *id)
    }

    fn put(&self, digest: Vec<u8>, id: Uuid) {
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
