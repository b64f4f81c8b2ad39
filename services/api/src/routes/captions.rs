//! `GET /v1/jobs/{id}/captions`: when each sentence of a job's input is spoken, as WebVTT.
//! The engines synthesise sentence by sentence, so the times are where each sentence's
//! audio starts and ends; neither engine reports word boundaries, so cues are sentences.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use orator_core::{captions, db::audio};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::jobs::{audio_of, owned};
use crate::{auth::Caller, error::ApiError, state::AppState};

/// The captions route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_job_captions))
}

/// The job's captions, one cue per sentence, each cue's text a span of the input.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/captions",
    tag = "jobs",
    params(("id" = uuid::Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "WebVTT captions", content(("text/vtt"))),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "Not succeeded (yet)", body = crate::error::ErrorBody),
        (status = 410, description = "Removed by retention, or made before captions were kept", body = crate::error::ErrorBody),
    )
)]
async fn get_job_captions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = owned(&state, caller, &id).await?;
    let audio_id = audio_of(&job)?;
    let cues = audio::captions(&state.pool, audio_id)
        .await?
        .ok_or_else(|| ApiError::Gone {
            code: "captions_unavailable",
            message: format!(
                "job {} has no captions (its audio is gone or predates them); request it again",
                job.id
            ),
        })?;
    let mut response = captions::webvtt(&job.input, &cues).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/vtt; charset=utf-8"),
    );
    Ok(response)
}
