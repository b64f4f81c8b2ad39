//! Bearer-key authentication and per-key rate limiting, as an extractor: a handler that
//! takes a [`Caller`] is protected.

use axum::{extract::FromRequestParts, http::header, http::request::Parts};
use orator_core::{
    db::api_keys,
    metrics::{AUTH_FAILURES, RATE_LIMITED},
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
        let Some(record) = api_keys::authenticate(&state.pool, key).await? else {
            metrics::counter!(AUTH_FAILURES, "reason" => "invalid").increment(1);
            return Err(ApiError::Unauthorized("invalid API key"));
        };
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
            // Limits live in Redis; without it, serving beats refusing everyone.
            Err(e) => tracing::warn!(error = %e, "rate limiter unavailable; request allowed"),
        }
        Ok(Self { key_id: record.id })
    }
}
