//! HTTP routes. Each module exports its `router()`; this one assembles them with the
//! OpenAPI document, the JSON 404/405 fallbacks, the body limit and instrumentation.

pub mod admin;
mod captions;
pub mod catalog;
mod console;
pub mod jobs;
pub mod monitoring;
mod openapi;
pub mod speech;
mod sse;
#[cfg(test)]
mod tests;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{Method, Uri},
    middleware,
    routing::get,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{error::ApiError, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "Orator", description = "Text-to-speech API, OpenAI-compatible."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// The API's OpenAPI document, generated from the routes below.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(speech::router())
        .merge(jobs::router())
        .merge(captions::router())
        .merge(catalog::router())
        .merge(monitoring::router())
        .merge(admin::router())
}

/// Every API route, instrumented, with its state.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = api_routes().split_for_parts();
    let doc = std::sync::Arc::new(openapi::document(&doc, &state));
    let instrumented = state.config.instrument_http;
    let routes = routes
        .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        .merge(console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), admin::inject_latency))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state.clone());
    let routes = if instrumented {
        orator_telemetry::http::instrument(routes)
    } else {
        routes
    };
    // Outermost: a refusal costs no span, no log line, no Redis or database call.
    routes.layer(middleware::from_fn_with_state(state, crate::admission::admit))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::BadRequest {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: format!("{method} is not allowed on {}", uri.path()),
    }
}
