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
use std::net::IpAddr;

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
