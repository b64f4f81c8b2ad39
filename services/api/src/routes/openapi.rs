//! The served OpenAPI document: utoipa's, completed with what the handlers share and the
//! limits only known at start (input length, the engine's voices and models), so that a
//! client or a fuzzer reading it knows exactly what is accepted and what comes back.

use serde_json::{Value, json};

use crate::state::AppState;

/// Responses every operation under `/v1` can give, besides its own.
const SHARED: &[(&str, &str)] = &[
    ("401", "Missing or invalid API key"),
    ("429", "Rate limited; see Retry-After"),
    ("503", "Overloaded; see Retry-After"),
];

/// Responses every operation with a JSON body can give.
const WITH_BODY: &[(&str, &str)] = &[
    ("400", "Invalid request; `param` names the field"),
    ("413", "Body too large"),
    ("415", "Body is not application/json"),
    (
        "422",
        "Well-formed, but nothing in it can be spoken (`no_speakable_text`), its audio would pass \
         the cap (`audio_too_long`), or an `Idempotency-Key` was reused with another body",
    ),
];

/// What `SpeechText` refuses with a 400: no control characters (C0 but tab and line breaks,
/// DEL and C1) and at least one character that is not white space. Whether the text holds
/// anything speakable is not put here: Unicode's idea of a letter differs between Rust and the
/// regex dialect a client runs, so that check answers 422 instead.
const INPUT_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";

/// The document for this process's configuration.
pub fn document(doc: &utoipa::openapi::OpenApi, state: &AppState) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    for (path, item) in doc["paths"].as_object_mut().into_iter().flatten() {
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            let has_body = operation.get("requestBody").is_some();
            let responses = &mut operation["responses"];
            if path.starts_with("/v1/") {
                add(responses, SHARED);
            }
            if has_body {
                add(responses, WITH_BODY);
            }
            if path == "/v1/jobs" && method == "get" {
                add(responses, &[("400", "Unparsable query parameters")]);
            }
            if path == "/v1/jobs" && method == "post" {
                responses["202"]["links"] = job_links();
            }
        }
    }
    let mut voices: Vec<String> = state
        .engines
        .iter()
        .flat_map(|e| e.voices())
        .flat_map(|v| std::iter::once(v.id.clone()).chain(v.aliases.iter().cloned()))
        .collect();
    voices.sort();
    voices.dedup();
    let models = state.models.names();
    let body = &mut doc["components"]["schemas"]["SpeechBody"]["properties"];
    body["input"]["minLength"] = json!(1);
    body["input"]["maxLength"] = json!(state.config.max_input_chars);
    body["input"]["pattern"] = json!(INPUT_PATTERN);
    // A name, or OpenAI's voice object. `anyOf` says the same as `oneOf` here (a string is
    // never an object) without asking a validator to prove that no value matches both.
    body["voice"] = json!({
        "description": "An OpenAI voice name or an engine voice id, as a string or as {\"id\": \"...\"}",
        "example": "alloy",
        "anyOf": [
            {"type": "string", "enum": voices},
            {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "enum": voices}}}
        ]
    });
    body["stream_format"]["enum"] = json!(["audio", "sse", null]);
    body["model"]["enum"] = json!(models);
    let mut formats: Vec<Value> = orator_engine::AudioFormat::ALL
        .iter()
        .map(|f| json!(f.as_str()))
        .collect();
    formats.push(Value::Null);
    body["response_format"]["enum"] = Value::Array(formats);
    doc
}

fn add(responses: &mut Value, shared: &[(&str, &str)]) {
    for (status, description) in shared {
        if responses.get(*status).is_none() {
            responses[*status] = json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            });
        }
    }
}

/// How the job made by `POST /v1/jobs` is reached next (OpenAPI links, which stateful
/// clients and fuzzers follow).
fn job_links() -> Value {
    let by_id = |operation: &str, description: &str| {
        json!({
            "operationId": operation,
            "parameters": {"id": "$response.body#/id"},
            "description": description,
        })
    };
    json!({
        "GetJob": by_id("get_job", "The job"),
        "GetJobAudio": by_id("get_job_audio", "Its audio once it succeeded"),
        "CancelJob": by_id("cancel_job", "Cancel it while queued"),
        "DeleteJob": by_id("delete_job", "Delete it with its audio"),
    })
}
