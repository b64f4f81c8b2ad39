//! API keys, stored as SHA-256 digests only.

use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use super::{acquire, timed};

/// A stored key (never the key itself).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ApiKey {
    /// Key id.
    pub id: Uuid,
    /// Human label.
    pub name: String,
    /// First characters of the key, to tell keys apart.
    pub key_prefix: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Set once revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

const TABLE: &str = "api_keys";

/// SHA-256 of a key: what is stored, and what caches may hold.
pub fn digest(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn display_prefix(key: &str) -> String {
    key.chars().take(8).collect()
}

/// Creates a new random key and returns it with its record; the key is shown only once.
pub async fn create(pool: &PgPool, name: &str) -> Result<(ApiKey, String), sqlx::Error> {
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("ork_{}", hex::encode(secret));
    let record = insert(pool, name, &key).await?;
    Ok((record, key))
}

/// Makes sure `key` exists (for demos and tests); returns its record.
pub async fn ensure(pool: &PgPool, name: &str, key: &str) -> Result<ApiKey, sqlx::Error> {
    match find(pool, key, false).await? {
        Some(existing) => Ok(existing),
        None => insert(pool, name, key).await,
    }
}

async fn insert(pool: &PgPool, name: &str, key: &str) -> Result<ApiKey, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as(
        "INSERT INTO api_keys (id, name, key_hash, key_prefix) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key_hash) DO UPDATE SET name = api_keys.name
         RETURNING id, name, key_prefix, created_at, revoked_at",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(digest(key))
    .bind(display_prefix(key));
    timed("INSERT", TABLE, query.fetch_one(&mut *conn)).await
}

async fn find(pool: &PgPool, key: &str, active_only: bool) -> Result<Option<ApiKey>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as(
        "SELECT id, name, key_prefix, created_at, revoked_at FROM api_keys
         WHERE key_hash = $1 AND (NOT $2 OR revoked_at IS NULL)",
    )
    .bind(digest(key))
    .bind(active_only);
    timed("SELECT", TABLE, query.fetch_optional(&mut *conn)).await
}

/// The active key matching `key`, if any.
pub async fn authenticate(pool: &PgPool, key: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    find(pool, key, true).await
}

/// Every key, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ApiKey>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query =
        sqlx::query_as("SELECT id, name, key_prefix, created_at, revoked_at FROM api_keys ORDER BY created_at DESC");
    timed("SELECT", TABLE, query.fetch_all(&mut *conn)).await
}

/// Revokes a key; false when no active key has that id.
pub async fn revoke(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL").bind(id);
    Ok(timed("UPDATE", TABLE, query.execute(&mut *conn)).await?.rows_affected() == 1)
}
