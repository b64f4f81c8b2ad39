//! `/v1/jobs`: asynchronous speech jobs.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use orator_core::{
    db::{audio, jobs},
    domain::{JobMode, JobStatus},
    failure::StoredFailure,
};
use orator_engine::AudioFormat;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::speech::{NoLatencySample, SpeechBody, audio_response, count_request};
use crate::{
    auth::Caller,
    error::ApiError,
    extract::{ApiJson, ApiQuery},
    state::AppState,
};

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// A job as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Job id.
    pub id: Uuid,
    /// Always `speech.job`.
    pub object: &'static str,
    /// Lifecycle state.
    pub status: JobStatus,
    /// Requested model.
    pub model: String,
    /// Engine voice.
    pub voice: String,
    /// Output format.
    pub response_format: String,
    /// Speed.
    pub speed: f32,
    /// Length of the input in characters.
    pub input_characters: i32,
    /// Synthesis attempts so far.
    pub attempts: i32,
    /// Why the job failed (or why the last attempt did), with a stable code.
    pub error: Option<StoredFailure>,
    /// Where to fetch the audio once succeeded.
    pub audio_url: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// End time.
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<jobs::Job> for JobView {
    fn from(j: jobs::Job) -> Self {
        let status = j.status();
        let error = j.failure();
        Self {
            id: j.id,
            object: "speech.job",
            status,
            model: j.model,
            voice: j.voice,
            response_format: j.format,
            speed: j.speed,
            input_characters: j.text_length,
            attempts: j.attempts,
            error,
            audio_url: (status == JobStatus::Succeeded).then(|| format!("/v1/jobs/{}/audio", j.id)),
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Always `list`.
    pub object: &'static str,
    /// Newest first.
    pub data: Vec<JobView>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
    /// Whether another page exists.
    pub has_more: bool,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Cursor from the previous page.
    pub after: Option<Uuid>,
}

/// The job routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_job, list_jobs))
        .routes(routes!(get_job, delete_job))
        .routes(routes!(cancel_job))
        .routes(routes!(get_job_audio))
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound(format!("no job {id:?}")))
}

pub(super) async fn owned(state: &AppState, caller: Caller, id: &str) -> Result<jobs::Job, ApiError> {
    let id = parse_id(id)?;
    jobs::get_owned(&state.pool, id, caller.key_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}

/// Queue a speech job.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    request_body = SpeechBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
        description = "Repeat a request safely: the same key with the same body returns the same job")),
    responses(
        (status = 202, description = "Accepted", body = JobView),
        (status = 400, description = "Invalid request", body = crate::error::ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = crate::error::ErrorBody),
        (status = 422, description = "Idempotency-Key already used with a different body", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::error::ErrorBody),
        (status = 503, description = "Overloaded or the job backlog is too long; see Retry-After", body = crate::error::ErrorBody),
    )
)]
async fn create_job(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SpeechBody>,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k) if (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
                Some(k.to_owned())
            }
            _ => {
                return Err(ApiError::BadRequest {
                    status: StatusCode::BAD_REQUEST,
                    code: "invalid_idempotency_key",
                    message: format!("Idempotency-Key must be 1–{MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
                });
            }
        },
    };
    let spec = body.parse(&state)?;
    let (job, created) = state
        .speech
        .submit(&spec, caller.key_id, idempotency_key.as_deref())
        .await?;
    count_request(&spec, JobMode::Async, if created { "accepted" } else { "replayed" });
    let location = format!("/v1/jobs/{}", job.id);
    let mut response = (StatusCode::ACCEPTED, Json(JobView::from(job))).into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(&location).expect("ascii"));
    if !created {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response.extensions_mut().insert(NoLatencySample);
    Ok(response)
}

/// List the caller's jobs, newest first.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(ListParams),
    responses((status = 200, body = JobList), (status = 401, body = crate::error::ErrorBody))
)]
async fn list_jobs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<JobList>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(orator_core::domain::InvalidInput::new(
            "limit",
            "invalid_limit",
            format!("limit must be between 1 and 100, got {limit}"),
        )
        .into());
    }
    let mut rows = jobs::list_owned(&state.pool, caller.key_id, params.after, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more { rows.last().map(|j| j.id) } else { None };
    Ok(Json(JobList {
        object: "list",
        data: rows.into_iter().map(JobView::from).collect(),
        next_cursor,
        has_more,
    }))
}

/// One job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses((status = 200, body = JobView), (status = 404, body = crate::error::ErrorBody))
)]
async fn get_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(owned(&state, caller, &id).await?.into()))
}

/// Cancel a job that has not started.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Canceled", body = JobView),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The job is no longer queued", body = crate::error::ErrorBody),
    )
)]
async fn cancel_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = owned(&state, caller, &id).await?;
    match jobs::cancel(&state.pool, job.id, caller.key_id).await? {
        Some(job) => Ok(Json(job.into())),
        None => Err(ApiError::Conflict {
            code: "job_not_cancelable",
            message: format!(
                "job {} is {} and can no longer be canceled",
                job.id,
                job.status().as_str()
            ),
        }),
    }
}

/// What `DELETE /v1/jobs/{id}` answers (OpenAI's deletion shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobDeleted {
    /// The deleted job's id.
    pub id: Uuid,
    /// Always `speech.job.deleted`.
    pub object: &'static str,
    /// Always true.
    pub deleted: bool,
}

/// Delete a job with its input and audio, whatever its state (a running job's result is
/// discarded). To stop a queued job but keep its record, cancel it instead.
#[utoipa::path(
    delete,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Deleted", body = JobDeleted),
        (status = 404, body = crate::error::ErrorBody),
    )
)]
async fn delete_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<JobDeleted>, ApiError> {
    let id = parse_id(&id)?;
    match state.speech.delete(id, caller.key_id).await? {
        Some(job) => Ok(Json(JobDeleted {
            id: job.id,
            object: "speech.job.deleted",
            deleted: true,
        })),
        None => Err(ApiError::NotFound(format!("no job {id}"))),
    }
}

/// The id of a job's audio, or why it has none.
pub(super) fn audio_of(job: &jobs::Job) -> Result<Uuid, ApiError> {
    if let Some(audio_id) = job.audio_id {
        return Ok(audio_id);
    }
    if job.status() == JobStatus::Succeeded {
        return Err(ApiError::Gone {
            code: "audio_expired",
            message: format!("the audio of job {} was removed by retention; request it again", job.id),
        });
    }
    Err(ApiError::Conflict {
        code: "job_not_ready",
        message: format!(
            "job {} is {}; audio exists once it has succeeded",
            job.id,
            job.status().as_str()
        ),
    })
}

/// The job's audio.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/audio",
    tag = "jobs",
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "Audio bytes", content(("audio/mpeg"), ("audio/ogg"), ("audio/aac"), ("audio/flac"), ("audio/wav"), ("audio/pcm"))),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "Not succeeded (yet)", body = crate::error::ErrorBody),
        (status = 410, description = "Removed by retention", body = crate::error::ErrorBody),
    )
)]
async fn get_job_audio(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = owned(&state, caller, &id).await?;
    let audio_id = audio_of(&job)?;
    // Gone between the two reads: deleted or reaped just now.
    let audio = audio::get(&state.pool, audio_id).await?.ok_or_else(|| ApiError::Gone {
        code: "audio_expired",
        message: format!("the audio of job {} was removed; request it again", job.id),
    })?;
    let format: AudioFormat = audio
        .format
        .parse()
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?;
    Ok(audio_response(format, audio.sample_rate as u32, audio.bytes, "none"))
}
