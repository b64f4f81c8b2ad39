//! The transactional outbox: rows commit with their job (see `jobs::create`), the relay
//! publishes them.

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

/// Claims up to `limit` unpublished rows for `lease` and returns them. The claim commits at
/// once, so no lock is held while they are published; other relays skip them until the
/// lease runs out (which is how a relay that died mid-publish hands them on).
pub async fn claim_pending(
    pool: &sqlx::PgPool,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<OutboxRow>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as(
        "UPDATE outbox SET claimed_until = now() + make_interval(secs => $2)
         WHERE id IN (
           SELECT id FROM outbox
           WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
           ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id, job_id, payload, headers",
    )
    .bind(limit)
    .bind(lease.as_secs_f64());
    let mut rows: Vec<OutboxRow> = timed("UPDATE", TABLE, query.fetch_all(&mut *conn)).await?;
    // RETURNING has no order; publish in commit order.
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Marks rows published.
pub async fn mark_published(pool: &sqlx::PgPool, ids: &[i64]) -> Result<(), sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query(
        "UPDATE outbox SET published_at = now(), claimed_until = NULL, attempts = attempts + 1 WHERE id = ANY($1)",
    )
    .bind(ids);
    timed("UPDATE", TABLE, query.execute(&mut *conn)).await.map(drop)
}

/// Gives claimed rows back at once (their publish failed), so the next pass retries them.
pub async fn release(pool: &sqlx::PgPool, ids: &[i64]) -> Result<(), sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query =
        sqlx::query("UPDATE outbox SET claimed_until = NULL, attempts = attempts + 1 WHERE id = ANY($1)").bind(ids);
    timed("UPDATE", TABLE, query.execute(&mut *conn)).await.map(drop)
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
