//! `GET /v1/audio/voices` and `GET /v1/models`.

use axum::{Json, extract::State};
use orator_core::domain::OPENAI_MODELS;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{auth::Caller, state::AppState};

/// One voice.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceView {
    /// Engine voice id, usable as `voice`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Language tag.
    pub language: String,
    /// M or F where the engine says.
    pub gender: Option<String>,
    /// OpenAI voice names that map onto this voice.
    pub openai_aliases: Vec<String>,
    /// Engine.
    pub engine: String,
}

/// The voice list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VoiceList {
    /// Always `list`.
    pub object: &'static str,
    /// Voices.
    pub data: Vec<VoiceView>,
}

/// One model, in OpenAI's shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelView {
    /// Model name, usable as `model`.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Unix time; fixed, as the model set is built in.
    pub created: i64,
    /// Always `orator`.
    pub owned_by: &'static str,
}

/// The model list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    /// Models.
    pub data: Vec<ModelView>,
}

/// The catalogue routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_voices))
        .routes(routes!(list_models))
}

/// Engine voices and the OpenAI names they serve.
#[utoipa::path(get, path = "/v1/audio/voices", tag = "catalog", responses((status = 200, body = VoiceList)))]
async fn list_voices(State(state): State<AppState>, _caller: Caller) -> Json<VoiceList> {
    let engine = state.engine.name().to_owned();
    let data = state
        .engine
        .voices()
        .iter()
        .map(|v| VoiceView {
            id: v.id.clone(),
            name: v.name.clone(),
            language: v.language.clone(),
            gender: v.gender.clone(),
            openai_aliases: v.aliases.clone(),
            engine: engine.clone(),
        })
        .collect();
    Json(VoiceList { object: "list", data })
}

/// Models accepted in `model`.
#[utoipa::path(get, path = "/v1/models", tag = "catalog", responses((status = 200, body = ModelList)))]
async fn list_models(State(state): State<AppState>, _caller: Caller) -> Json<ModelList> {
    let data = OPENAI_MODELS
        .iter()
        .copied()
        .chain([state.engine.name()])
        .map(|id| ModelView {
            id: id.to_owned(),
            object: "model",
            created: 1_763_769_600,
            owned_by: "orator",
        })
        .collect();
    Json(ModelList { object: "list", data })
}
