//! Synthesised audio.

use sqlx::PgPool;
use uuid::Uuid;

use super::{acquire, timed};

/// Audio to store.
#[derive(Debug, Clone)]
pub struct NewAudio {
    /// Format name (`mp3`, …).
    pub format: String,
    /// MIME type.
    pub content_type: String,
    /// Sample rate of the encoded audio.
    pub sample_rate: u32,
    /// Length of the audio.
    pub duration_ms: u32,
    /// Encoded bytes.
    pub bytes: Vec<u8>,
    /// When each sentence is spoken.
    pub captions: Vec<Cue>,
}

/// One sentence's place in the audio and in the job's input.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cue {
    /// When its speech starts.
    pub start_ms: u32,
    /// When its speech ends (the pause after it is not part of the cue).
    pub end_ms: u32,
    /// First byte of the sentence in the input.
    pub text_start: usize,
    /// End (exclusive) of the sentence in the input.
    pub text_end: usize,
}

/// Stored audio.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Audio {
    /// Id.
    pub id: Uuid,
    /// Format name.
    pub format: String,
    /// MIME type.
    pub content_type: String,
    /// Sample rate of the encoded audio.
    pub sample_rate: i32,
    /// Length of the audio.
    pub duration_ms: i32,
    /// Encoded bytes.
    pub bytes: Vec<u8>,
}

/// The captions stored with audio (None for audio made before captions existed).
pub async fn captions(pool: &PgPool, id: Uuid) -> Result<Option<Vec<Cue>>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query = sqlx::query_as::<_, (Option<sqlx::types::Json<Vec<Cue>>>,)>("SELECT captions FROM audio WHERE id = $1")
        .bind(id);
    let row = timed("SELECT", "audio", query.fetch_optional(&mut *conn)).await?;
    Ok(row.and_then(|(c,)| c).map(|c| c.0))
}

/// Loads audio by id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Audio>, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query =
        sqlx::query_as("SELECT id, format, content_type, sample_rate, duration_ms, bytes FROM audio WHERE id = $1")
            .bind(id);
    timed("SELECT", "audio", query.fetch_optional(&mut *conn)).await
}

/// Inserts audio inside the caller's transaction and returns its id.
pub async fn insert(conn: &mut sqlx::PgConnection, audio: &NewAudio) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    let query = sqlx::query(
        "INSERT INTO audio (id, format, content_type, sample_rate, duration_ms, size_bytes, bytes, captions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(&audio.format)
    .bind(&audio.content_type)
    .bind(audio.sample_rate as i32)
    .bind(audio.duration_ms as i32)
    .bind(audio.bytes.len() as i32)
    .bind(&audio.bytes)
    .bind(sqlx::types::Json(&audio.captions));
    timed("INSERT", "audio", query.execute(conn)).await?;
    Ok(id)
}

/// Deletes audio no job refers to; false when some job still does.
pub async fn delete_unreferenced(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    let mut conn = acquire(pool).await?;
    let query =
        sqlx::query("DELETE FROM audio WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE audio_id = $1)").bind(id);
    Ok(timed("DELETE", "audio", query.execute(&mut *conn))
        .await?
        .rows_affected()
        > 0)
}
