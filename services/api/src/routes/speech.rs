//! `POST /v1/audio/speech`: OpenAI-compatible speech. Cache first; on a miss the request
//! becomes a job like any other and waits for a worker, so there is one inference path.

use axum::{
    extract::State,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
};
use orator_core::{
    cache::CachedAudio,
    completion::WaitError,
    db::{audio, jobs},
    domain::{InvalidInput, JobMode, JobStatus, Model, SpeechSpec, SpeechText, Speed, Voice, parse_format},
};
use orator_engine::AudioFormat;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Caller, error::ApiError, extract::ApiJson, state::AppState};
use orator_core::metrics::SPEECH_REQUESTS;

/// Body of a speech request (OpenAI's shape; unknown fields are ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpeechBody {
    /// `tts-1`, `tts-1-hd` or an engine name.
    #[schema(example = "tts-1")]
    pub model: String,
    /// Text to speak.
    #[schema(example = "Hello from Orator.")]
    pub input: String,
    /// An OpenAI voice name (alloy, echo, …) or an engine voice id (en-us, de, …).
    #[schema(example = "alloy")]
    pub voice: String,
    /// mp3 (default), opus, flac, wav or pcm.
    #[schema(example = "mp3")]
    pub response_format: Option<String>,
    /// 0.25 to 4.0, default 1.0.
    #[schema(example = 1.0)]
    pub speed: Option<f64>,
}

impl SpeechBody {
    /// Validates every field against the engine's catalogue and the configured limits.
    pub fn parse(self, state: &AppState) -> Result<SpeechSpec, InvalidInput> {
        let engine = state.engine.as_ref();
        Ok(SpeechSpec {
            model: Model::parse(&self.model, engine)?,
            engine: engine.name().to_owned(),
            text: SpeechText::parse(self.input, state.config.max_input_chars)?,
            voice: Voice::parse(&self.voice, engine)?,
            format: parse_format(self.response_format.as_deref())?,
            speed: Speed::parse(self.speed)?,
        })
    }
}

/// The speech route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_speech))
}

const SAMPLE_RATE: HeaderName = HeaderName::from_static("x-sample-rate");
const CACHE: HeaderName = HeaderName::from_static("x-orator-cache");

/// An audio answer; `X-Sample-Rate` matters most for raw `pcm`, which has no header.
pub fn audio_response(format: AudioFormat, sample_rate: u32, bytes: Vec<u8>, cache: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    headers.insert(SAMPLE_RATE, HeaderValue::from(sample_rate));
    headers.insert(CACHE, HeaderValue::from_static(cache));
    response
}

/// Synthesise speech.
#[utoipa::path(
    post,
    path = "/v1/audio/speech",
    tag = "speech",
    request_body = SpeechBody,
    responses(
        (status = 200, description = "Audio bytes in the requested format", content(
            ("audio/mpeg"), ("audio/ogg"), ("audio/flac"), ("audio/wav"), ("audio/pcm")
        )),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 415, description = "Body is not JSON", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = crate::error::ErrorBody),
        (status = 504, description = "No worker finished in time", body = crate::error::ErrorBody),
    )
)]
async fn create_speech(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SpeechBody>,
) -> Result<Response, ApiError> {
    let spec = body.parse(&state)?;
    let outcome = synthesise(&state, caller, &spec).await;
    let label = match &outcome {
        Ok(_) => "succeeded",
        Err(ApiError::Timeout(_)) => "timeout",
        Err(_) => "failed",
    };
    count_request(&spec, JobMode::Sync, label);
    outcome
}

/// Counts a speech request; the voice label is the OpenAI name or the base engine voice,
/// so it stays bounded by the catalogue.
pub fn count_request(spec: &SpeechSpec, mode: JobMode, outcome: &'static str) {
    metrics::counter!(
        SPEECH_REQUESTS,
        "voice" => spec.voice.label().to_owned(),
        "format" => spec.format.as_str(),
        "mode" => mode.as_str(),
        "outcome" => outcome,
    )
    .increment(1);
}

async fn synthesise(state: &AppState, caller: Caller, spec: &SpeechSpec) -> Result<Response, ApiError> {
    let cache_key = spec.cache_key();
    match state.redis.get_audio(&cache_key).await {
        Ok(Some(CachedAudio { sample_rate, bytes })) => {
            return Ok(audio_response(spec.format, sample_rate, bytes, "hit"));
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cache unavailable; synthesising"),
    }
    let new = jobs::NewJob {
        spec,
        mode: JobMode::Sync,
        api_key_id: Some(caller.key_id),
        idempotency_key: None,
        headers: trace_headers(),
    };
    let (job, _) = jobs::create(&state.pool, new).await?;
    state.relay.nudge();
    let job = state
        .completions
        .wait(job.id, state.config.sync_timeout)
        .await
        .map_err(|e| match e {
            WaitError::Deadline => ApiError::Timeout(state.config.sync_timeout),
            WaitError::Db(e) => e.into(),
        })?;
    match (job.status(), job.audio_id) {
        (JobStatus::Succeeded, Some(audio_id)) => {
            let audio = audio::get(&state.pool, audio_id)
                .await?
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("job {} has no audio row", job.id)))?;
            Ok(audio_response(
                spec.format,
                audio.sample_rate as u32,
                audio.bytes,
                "miss",
            ))
        }
        _ => Err(ApiError::SynthesisFailed(
            job.error.unwrap_or_else(|| "unknown error".into()),
        )),
    }
}

/// The current request's trace context, stored with the job so the publish continues it.
pub fn trace_headers() -> serde_json::Value {
    serde_json::to_value(orator_telemetry::propagation::inject(&tracing::Span::current())).unwrap_or_default()
}
