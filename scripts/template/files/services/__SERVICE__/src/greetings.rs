//! `GET /v1/greetings/{name}`: the example route. Replace it with your own; keep the shape
//! (parse the input into a type once, one domain call, errors through `ApiError`).

use axum::{Json, Router, extract::Path, routing::get};
use serde_json::{Value, json};

use crate::{error::ApiError, metrics::GREETINGS};

/// Longest name accepted: every input is bounded.
pub const MAX_NAME_CHARS: usize = 64;

/// A name worth greeting: 1 to 64 characters, none of them control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Parses a name, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let invalid = |message: String| ApiError::Invalid {
            code: "invalid_name",
            message,
        };
        let chars = raw.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(invalid(format!(
                "name must have 1 to {MAX_NAME_CHARS} characters, not {chars}"
            )));
        }
        if raw.chars().any(char::is_control) {
            return Err(invalid("name must not contain control characters".into()));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// The routes of this module.
pub fn router() -> Router {
    Router::new().route("/v1/greetings/{name}", get(greet))
}

#[tracing::instrument(skip_all)]
async fn greet(Path(raw): Path<String>) -> Result<Json<Value>, ApiError> {
    let name = Name::parse(&raw).inspect_err(|_| {
        metrics::counter!(GREETINGS, "outcome" => "rejected").increment(1);
    })?;
    metrics::counter!(GREETINGS, "outcome" => "ok").increment(1);
    tracing::info!(chars = name.0.chars().count(), "greeted");
    Ok(Json(json!({"greeting": format!("Hello, {}!", name.0)})))
}

#[cfg(test)]
mod tests {
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (u16, Value) {
        let response = router()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn greets_a_name() {
        let (status, body) = get("/v1/greetings/Ada").await;
        assert_eq!(status, 200);
        assert_eq!(body["greeting"], "Hello, Ada!");
    }

    #[tokio::test]
    async fn a_name_too_long_is_a_400_that_says_why() {
        let (status, body) = get(&format!("/v1/greetings/{}", "a".repeat(MAX_NAME_CHARS + 1))).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "invalid_name");
        assert!(body["error"]["message"].as_str().unwrap().contains("65"), "{body}");
    }
}
