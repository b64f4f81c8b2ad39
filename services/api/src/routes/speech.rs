//! `POST /v1/audio/speech`: OpenAI-compatible speech. Cache first; on a miss the request
//! becomes a job like any other and streams the audio as the worker makes it, so there is
//! one inference path (the orchestration is `orator_core::speech`). The bytes go out as
//! they come, or wrapped in server-sent events with `stream_format: "sse"`.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
};
use orator_core::{
    domain::{Fault, InvalidInput, JobMode, Model, SpeechSpec, SpeechText, Speed, Voice, parse_format},
    speech::{Audio, Source, SpeechError},
};
use orator_engine::AudioFormat;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::sse;
use crate::{auth::Caller, error::ApiError, extract::ApiJson, state::AppState};
use orator_core::metrics::SPEECH_REQUESTS;

/// Body of a speech request (OpenAI's shape; unknown fields are ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SpeechBody {
    /// `tts-1`, `tts-1-hd`, `gpt-4o-mini-tts` (and its dated alias) or an engine name.
    #[schema(example = "tts-1")]
    pub model: String,
    /// Text to speak.
    #[schema(example = "Hello from Orator.")]
    pub input: String,
    /// An OpenAI voice name (alloy, echo, marin, …) or an engine voice id (en-us, de, …), as
    /// a string or as `{"id": "..."}`.
    pub voice: VoiceParam,
    /// mp3 (default), opus, aac, flac, wav or pcm.
    #[schema(example = "mp3")]
    pub response_format: Option<String>,
    /// 0.25 to 4.0, default 1.0.
    #[schema(example = 1.0, minimum = 0.25, maximum = 4.0)]
    pub speed: Option<f64>,
    /// Accepted for OpenAI's `gpt-4o-mini-tts` clients and not applied: no engine here can
    /// follow them yet (the response says so in `X-Orator-Instructions: ignored`).
    #[schema(max_length = 4096, example = "Speak calmly.")]
    pub instructions: Option<String>,
    /// `audio` (the default): the bytes of the file, streamed as they are made. `sse`:
    /// server-sent events, `speech.audio.delta` with base64 audio, then `speech.audio.done`.
    #[schema(example = "audio")]
    pub stream_format: Option<String>,
}

/// `voice`: a name, or OpenAI's custom-voice object `{"id": "..."}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum VoiceParam {
    /// A voice name or engine voice id.
    Name(String),
    /// OpenAI's voice object; `id` is a name as above.
    Object {
        /// A voice name or engine voice id.
        id: String,
    },
}

impl VoiceParam {
    /// The name, whichever form it came in.
    pub fn name(&self) -> &str {
        match self {
            Self::Name(name) | Self::Object { id: name } => name,
        }
    }
}

/// How the audio goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// The file's bytes.
    Audio,
    /// Server-sent events carrying base64 pieces of the file.
    Sse,
}

impl StreamFormat {
    /// `audio` (or absent) or `sse`.
    pub fn parse(value: Option<&str>) -> Result<Self, InvalidInput> {
        match value {
            None | Some("audio") => Ok(Self::Audio),
            Some("sse") => Ok(Self::Sse),
            Some(other) => Err(InvalidInput::new(
                "stream_format",
                "unsupported_stream_format",
                format!("stream_format {other:?} is not one of \"audio\" or \"sse\""),
            )),
        }
    }
}

/// Longest `instructions` accepted (OpenAI's limit).
const MAX_INSTRUCTIONS: usize = 4096;

impl SpeechBody {
    /// Validates every field against the engine's catalogue and the configured limits.
    pub fn parse(self, state: &AppState) -> Result<SpeechSpec, InvalidInput> {
        if let Some(instructions) = &self.instructions {
            let chars = instructions.chars().count();
            if chars > MAX_INSTRUCTIONS {
                return Err(InvalidInput::new(
                    "instructions",
                    "instructions_too_long",
                    format!("instructions are {chars} characters; the limit is {MAX_INSTRUCTIONS}"),
                ));
            }
        }
        StreamFormat::parse(self.stream_format.as_deref())?;
        let voice = self.voice.name();
        let model = Model::parse(&self.model, &state.models)?;
        let engine = state
            .engines
            .get(model.engine())
            .expect("a parsed model has its engine");
        Ok(SpeechSpec {
            engine: model.engine().to_owned(),
            model,
            text: SpeechText::parse(self.input, state.config.max_input_chars)?,
            voice: Voice::parse(voice, engine.as_ref()).map_err(|e| other_models_voice(e, voice, state))?,
            format: parse_format(self.response_format.as_deref())?,
            speed: Speed::parse(self.speed)?,
        })
    }
}

/// A voice that exists, but in another engine than the model's: the fields do not go
/// together (a 422 that says which model reaches it), rather than an unknown voice.
fn other_models_voice(unknown: InvalidInput, voice: &str, state: &AppState) -> InvalidInput {
    match state.engines.iter().find(|e| e.resolve_voice(voice).is_some()) {
        Some(engine) => InvalidInput {
            code: "voice_not_in_model",
            message: format!(
                "voice {voice:?} belongs to the {} engine; use model {:?} (GET /v1/audio/voices lists each voice's models)",
                engine.name(),
                engine.name()
            ),
            fault: Fault::Unprocessable,
            ..unknown
        },
        None => unknown,
    }
}

/// The speech route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_speech))
}

const SAMPLE_RATE: HeaderName = HeaderName::from_static("x-sample-rate");
const CACHE: HeaderName = HeaderName::from_static("x-orator-cache");
const INSTRUCTIONS: HeaderName = HeaderName::from_static("x-orator-instructions");

/// An audio answer; `X-Sample-Rate` matters most for raw `pcm`, which has no header.
pub fn audio_response(
    format: AudioFormat,
    sample_rate: u32,
    bytes: impl Into<bytes::Bytes>,
    cache: &'static str,
) -> Response {
    let mut response = bytes.into().into_response();
    set_audio_headers(&mut response, format.content_type(), sample_rate, cache);
    response
}

/// The headers of every audio answer; they go out before its first chunk.
fn set_audio_headers(response: &mut Response, content_type: &'static str, sample_rate: u32, cache: &'static str) {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(SAMPLE_RATE, HeaderValue::from(sample_rate));
    headers.insert(CACHE, HeaderValue::from_static(cache));
}

/// Synthesise speech.
#[utoipa::path(
    post,
    path = "/v1/audio/speech",
    tag = "speech",
    request_body = SpeechBody,
    responses(
        (status = 200, description = "Audio bytes in the requested format, streamed as they are synthesised (or server-sent events with `stream_format: sse`)", content(
            ("audio/mpeg"), ("audio/ogg"), ("audio/aac"), ("audio/flac"), ("audio/wav"), ("audio/pcm"), ("text/event-stream")
        )),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 415, description = "Body is not JSON", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = crate::error::ErrorBody),
        (status = 503, description = "Overloaded; see Retry-After (for long waits use POST /v1/jobs)", body = crate::error::ErrorBody),
        (status = 504, description = "No worker started in time", body = crate::error::ErrorBody),
    )
)]
async fn create_speech(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SpeechBody>,
) -> Result<Response, ApiError> {
    let instructions = body.instructions.is_some();
    let stream_format = StreamFormat::parse(body.stream_format.as_deref())?;
    let spec = body.parse(&state)?;
    let outcome = state.speech.speak(&spec, caller.key_id).await;
    let label = match &outcome {
        Ok(_) => "succeeded",
        Err(SpeechError::Timeout(_)) => "timeout",
        Err(SpeechError::Overloaded(_)) => "shed",
        Err(_) => "failed",
    };
    count_request(&spec, JobMode::Sync, label);
    let waited = outcome.as_ref().map_or(true, |spoken| spoken.source != Source::Hit);
    let mut response = match outcome {
        Ok(spoken) => {
            let (rate, cache) = (spoken.sample_rate, spoken.source.as_str());
            let content_type = match stream_format {
                StreamFormat::Audio => spec.format.content_type(),
                StreamFormat::Sse => "text/event-stream",
            };
            let body = match stream_format {
                StreamFormat::Audio => audio_body(spoken.audio),
                StreamFormat::Sse => sse::body(spoken.audio, spec.text.chars()),
            };
            let mut response = Response::new(body);
            set_audio_headers(&mut response, content_type, rate, cache);
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    };
    if waited {
        response.extensions_mut().insert(NoLatencySample);
    }
    if instructions {
        response
            .headers_mut()
            .insert(INSTRUCTIONS, HeaderValue::from_static("ignored"));
    }
    Ok(response)
}

/// The audio's bytes: all at once, or chunk by chunk as they arrive (chunked transfer).
/// A stream that breaks off ends the body with an error, which cuts the connection short:
/// the client sees a truncated response, never a complete-looking one.
fn audio_body(audio: Audio) -> Body {
    match audio {
        Audio::Whole(audio) => Body::from(audio.bytes.clone()),
        Audio::Stream(listener) => Body::from_stream(futures::stream::unfold(listener, |mut listener| async move {
            listener.next().await.map(|chunk| (chunk, listener))
        })),
    }
}

/// Marks a response whose latency is not the api's own work: waiting for a worker (bounded
/// by the sync-waiter budget) or a durable job commit (bounded by the backlog check). The
/// adaptive in-flight limit learns only from the rest (hits, reads, listings).
#[derive(Debug, Clone, Copy)]
pub struct NoLatencySample;

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
