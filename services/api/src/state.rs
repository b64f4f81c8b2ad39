//! Shared application state.

use std::sync::Arc;

use orator_core::{cache::Redis, completion::Completions, queue::Relay};
use orator_engine::Synthesizer;
use sqlx::PgPool;

use crate::config::ApiConfig;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// PostgreSQL.
    pub pool: PgPool,
    /// Redis (cache and rate limits).
    pub redis: Redis,
    /// The outbox relay, nudged after each new job.
    pub relay: Relay,
    /// Waits for sync jobs.
    pub completions: Completions,
    /// The engine's catalogue, for validation and listings; synthesis happens in workers.
    pub engine: Arc<dyn Synthesizer>,
    /// Settings.
    pub config: Arc<ApiConfig>,
}
