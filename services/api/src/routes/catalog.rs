//! `GET /v1/audio/voices` and `GET /v1/models`.

use axum::{Json, extract::State};
use orator_core::domain::Model;
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
    /// Samples per second of its audio (`pcm` is sent at this rate).
    pub sample_rate: u32,
    /// Models that reach this voice: the OpenAI ones whose engine it is, and the engine's name.
    pub models: Vec<String>,
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

/// Every engine's voices, with the OpenAI names and models that reach them.
#[utoipa::path(get, path = "/v1/audio/voices", tag = "catalog", responses((status = 200, body = VoiceList)))]
async fn list_voices(State(state): State<AppState>, _caller: Caller) -> Json<VoiceList> {
    let mut data = Vec::new();
    for engine in state.engines.iter() {
        let models: Vec<String> = state
            .models
            .names()
            .into_iter()
            .filter(|m| Model::parse(m, &state.models).is_ok_and(|m| m.engine() == engine.name()))
            .map(str::to_owned)
            .collect();
        data.extend(engine.voices().iter().map(|v| VoiceView {
            id: v.id.clone(),
            name: v.name.clone(),
            language: v.language.clone(),
            gender: v.gender.clone(),
            openai_aliases: v.aliases.clone(),
            engine: engine.name().to_owned(),
            sample_rate: v.sample_rate,
            models: models.clone(),
        }));
    }
    Json(VoiceList { object: "list", data })
}

/// Models accepted in `model`.
#[utoipa::path(get, path = "/v1/models", tag = "catalog", responses((status = 200, body = ModelList)))]
async fn list_models(State(state): State<AppState>, _caller: Caller) -> Json<ModelList> {
    let data = state
        .models
        .names()
        .into_iter()
        .map(|id| ModelView {
            id: id.to_owned(),
            object: "model",
            created: 1_763_769_600,
            owned_by: "orator",
        })
        .collect();
    Json(ModelList { object: "list", data })
}
