//! The transactional outbox: rows commit with their job (see `jobs::create`), the relay
//! publishes them.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{acquire, timed};

const TABLE: &str = "outbox";

/// A message waiting to be published.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    /// Row id (publish order).
    pub id: i64,
    /// The job it carries.
    pub job_id: Uuid,
    /// Message body.
    pub payload: serde_json::Value,
    /// Message headers (trace context).
    pub headers: serde_json::Value,
}

/// Locks up to `limit` unpublished rows; other relays skip them.
pub async fn lock_pending(conn: &mut PgConnection, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let query = sqlx::query_as(
        "SELECT id, job_id, payload, headers FROM outbox WHERE published_at IS NULL
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limit);
    timed("SELECT", TABLE, query.fetch_all(conn)).await
}

/// Marks rows published.
pub async fn mark_published(conn: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    let query =
        sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY($1)").bind(ids);
    timed("UPDATE", TABLE, query.execute(conn)).await.map(drop)
}

/// Number of unpublished rows and the age of the oldest, in seconds.
pub async fn backlog(pool: &sqlx::PgPool) -> Result<(i64, f64), sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at))::float8, 0)
         FROM outbox WHERE published_at IS NULL",
    );
    timed("SELECT", TABLE, query.fetch_one(&mut *conn)).await
}
