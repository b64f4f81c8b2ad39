//! The one place where errors become HTTP responses, in OpenAI's error shape.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use orator_core::{
    admission::{Reason, Rejection},
    domain::{Fault, InvalidInput},
    failure::StoredFailure,
    speech::SpeechError,
};
use serde::Serialize;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field broke a rule.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The body could not be read as the expected JSON.
    #[error("{message}")]
    BadRequest {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// Missing or unknown API key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Over the per-key limit.
    #[error("rate limit exceeded")]
    RateLimited(Duration),
    /// No such resource (or not the caller's).
    #[error("{0}")]
    NotFound(String),
    /// The resource is not in a state that allows this.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The resource existed and was removed.
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// Refused before any work: overloaded, or the backlog is too long.
    #[error(transparent)]
    Overloaded(Rejection),
    /// A worker did not finish in time.
    #[error(
        "speech was not ready within {0:?}; retry later (the audio is cached if synthesis finishes) or use POST /v1/jobs"
    )]
    Timeout(Duration),
    /// Synthesis failed for good (the code says why; the detail is in the worker's logs).
    #[error("{}", .0.message)]
    SynthesisFailed(StoredFailure),
    /// The request was understood but conflicts with an earlier one.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// PostgreSQL is unreachable or too slow: try again soon.
    #[error("storage is unavailable; retry later")]
    StorageUnavailable(#[source] sqlx::Error),
    /// A dependency failed.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<SpeechError> for ApiError {
    fn from(e: SpeechError) -> Self {
        match e {
            SpeechError::Overloaded(r) => Self::Overloaded(r),
            SpeechError::Timeout(d) => Self::Timeout(d),
            SpeechError::Failed(failure) => Self::SynthesisFailed(failure),
            e @ SpeechError::KeyReused(_) => Self::Unprocessable {
                code: "idempotency_key_reused",
                message: e.to_string(),
            },
            // Only ever after audio went out, so it ends a response rather than starting one.
            e @ SpeechError::Broken => Self::SynthesisFailed(orator_core::failure::StoredFailure {
                code: "stream_broken".into(),
                message: e.to_string(),
            }),
            SpeechError::Db(e) => match Arc::try_unwrap(e) {
                Ok(e) => e.into(),
                Err(shared) => Self::Internal(anyhow::anyhow!("{shared}")),
            },
        }
    }
}

/// What a caller is told to wait when storage is unavailable.
const STORAGE_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Put on a response refused by admission, for the middleware that counts refusals by route.
#[derive(Debug, Clone, Copy)]
pub struct Shed(pub Reason);

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            // The database is away or stalled, not wrong: the caller may retry.
            E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => Self::StorageUnavailable(e),
            E::Database(ref db) if db.code().as_deref() == Some(QUERY_CANCELED) => Self::StorageUnavailable(e),
            e => Self::Internal(e.into()),
        }
    }
}

/// SQLSTATE of a statement ended by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

#[derive(Serialize, utoipa::ToSchema)]
/// OpenAI's error envelope.
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
/// One error.
pub struct ErrorDetail {
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
    param: Option<&'static str>,
    code: Option<String>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, Option<&'static str>, Option<&str>) {
        use StatusCode as S;
        match self {
            // 400 when the request breaks the documented schema, 422 when it fits the schema
            // but cannot become speech: a client (or a fuzzer) can tell the two apart.
            Self::Invalid(e) => {
                let status = match e.fault {
                    Fault::Malformed => S::BAD_REQUEST,
                    Fault::Unprocessable => S::UNPROCESSABLE_ENTITY,
                };
                (status, "invalid_request_error", Some(e.param), Some(e.code))
            }
            Self::BadRequest { status, code, .. } => (*status, "invalid_request_error", None, Some(code)),
            Self::Unauthorized(_) => (S::UNAUTHORIZED, "authentication_error", None, Some("invalid_api_key")),
            Self::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "rate_limit_error",
                None,
                Some("rate_limit_exceeded"),
            ),
            Self::NotFound(_) => (S::NOT_FOUND, "invalid_request_error", None, Some("not_found")),
            Self::Conflict { code, .. } => (S::CONFLICT, "invalid_request_error", None, Some(code)),
            Self::Gone { code, .. } => (S::GONE, "invalid_request_error", None, Some(code)),
            Self::Overloaded(_) => (S::SERVICE_UNAVAILABLE, "server_error", None, Some("overloaded")),
            Self::Timeout(_) => (S::GATEWAY_TIMEOUT, "timeout_error", None, Some("synthesis_timeout")),
            // Input that cannot become audio (too long, silent) is the caller's to fix.
            Self::SynthesisFailed(f) if f.is_input_error() => (
                S::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                Some("input"),
                Some(f.code.as_str()),
            ),
            Self::SynthesisFailed(f) => (S::INTERNAL_SERVER_ERROR, "server_error", None, Some(f.code.as_str())),
            Self::Unprocessable { code, .. } => (S::UNPROCESSABLE_ENTITY, "invalid_request_error", None, Some(code)),
            Self::StorageUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "server_error",
                None,
                Some("storage_unavailable"),
            ),
            Self::Internal(_) => (S::INTERNAL_SERVER_ERROR, "server_error", None, Some("internal_error")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(e) => tracing::error!(error = format!("{e:#}"), "request failed"),
            Self::StorageUnavailable(e) => tracing::warn!(error = %e, "storage unavailable"),
            _ => {}
        }
        let (status, kind, param, code) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                kind,
                message: self.to_string(),
                param,
                code: code.map(str::to_owned),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            Self::RateLimited(after) => Some(*after),
            Self::StorageUnavailable(_) => Some(STORAGE_RETRY_AFTER),
            Self::Overloaded(rejection) => {
                response.extensions_mut().insert(Shed(rejection.reason));
                Some(rejection.retry_after)
            }
            _ => None,
        };
        if let Some(after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(after.as_secs().max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orator_core::failure::StoredFailure;

    /// Status, `Retry-After` and the JSON body of an error's response.
    async fn answer(e: ApiError) -> (u16, Option<String>, serde_json::Value) {
        let response = e.into_response();
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    fn failure(code: &str) -> StoredFailure {
        StoredFailure {
            code: code.into(),
            message: format!("failed: {code}"),
        }
    }

    #[tokio::test]
    async fn every_error_maps_to_its_status_code_and_openai_shape() {
        let cases: Vec<(ApiError, u16, &str, &str, Option<&str>)> = vec![
            (
                InvalidInput::new("speed", "invalid_speed", "too fast").into(),
                400,
                "invalid_request_error",
                "invalid_speed",
                None,
            ),
            (
                InvalidInput {
                    fault: Fault::Unprocessable,
                    ..InvalidInput::new("input", "no_speakable_text", "nothing")
                }
                .into(),
                422,
                "invalid_request_error",
                "no_speakable_text",
                None,
            ),
            (
                ApiError::Unauthorized("invalid API key"),
                401,
                "authentication_error",
                "invalid_api_key",
                None,
            ),
            (
                ApiError::RateLimited(Duration::from_millis(1500)),
                429,
                "rate_limit_error",
                "rate_limit_exceeded",
                Some("1"),
            ),
            (
                SpeechError::Overloaded(Rejection::cache_busy()).into(),
                503,
                "server_error",
                "overloaded",
                Some("1"),
            ),
            (
                SpeechError::Timeout(Duration::from_secs(30)).into(),
                504,
                "timeout_error",
                "synthesis_timeout",
                None,
            ),
            (
                SpeechError::Failed(failure("audio_too_long")).into(),
                422,
                "invalid_request_error",
                "audio_too_long",
                None,
            ),
            (
                SpeechError::KeyReused(uuid::Uuid::nil()).into(),
                422,
                "invalid_request_error",
                "idempotency_key_reused",
                None,
            ),
            (
                SpeechError::Db(Arc::new(sqlx::Error::PoolTimedOut)).into(),
                503,
                "server_error",
                "storage_unavailable",
                Some("2"),
            ),
            (
                ApiError::NotFound("no job x".into()),
                404,
                "invalid_request_error",
                "not_found",
                None,
            ),
        ];
        for (error, status, kind, code, retry) in cases {
            let (got, retry_after, body) = answer(error).await;
            assert_eq!(got, status, "{body}");
            assert_eq!(body["error"]["type"], kind, "{body}");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert!(
                body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{body}"
            );
            assert_eq!(retry_after.as_deref(), retry, "{body}");
        }
    }

    #[tokio::test]
    async fn a_field_error_names_its_param_and_an_input_failure_names_input() {
        let (_, _, body) = answer(InvalidInput::new("voice", "unknown_voice", "no such voice").into()).await;
        assert_eq!(body["error"]["param"], "voice");
        let (_, _, body) = answer(SpeechError::Failed(failure("no_speech")).into()).await;
        assert_eq!(body["error"]["param"], "input");
    }
}
