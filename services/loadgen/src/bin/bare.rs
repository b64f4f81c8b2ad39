//! orator-bare: one axum JSON handler, no middleware, no state. The benchmark serves the
//! same model list from it as from the api, to show what the HTTP stack alone costs here.
//!
//! Usage: `orator-bare [ADDR]` (default 127.0.0.1:8090); `GET /v1/models`.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

async fn models() -> Json<Value> {
    let model = |id: &str| json!({"id": id, "object": "model", "created": 1_763_769_600, "owned_by": "orator"});
    Json(json!({"object": "list", "data": [model("tts-1"), model("tts-1-hd"), model("espeak-ng")]}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("orator-bare listening on {}", listener.local_addr()?);
    axum::serve(listener, Router::new().route("/v1/models", get(models))).await?;
    Ok(())
}
