//! PostgreSQL: the pool, migrations and one repository module per table.

pub mod api_keys;
pub mod audio;
pub mod jobs;
pub mod outbox;

use sqlx::{PgPool, Postgres, migrate::MigrateDatabase, postgres::PgPoolOptions};
use std::time::Duration;

/// Channel on which a finished job's id is announced (`NOTIFY`), committed with the job.
pub const JOB_DONE_CHANNEL: &str = "orator_job_done";

/// Opens a pool. With `create_database`, a missing database is created first.
pub async fn connect(url: &str, max_connections: u32, create_database: bool) -> Result<PgPool, sqlx::Error> {
    if create_database && !Postgres::database_exists(url).await? {
        // Two api replicas may race here; losing the race is fine.
        if let Err(e) = Postgres::create_database(url).await
            && !Postgres::database_exists(url).await?
        {
            return Err(e);
        }
        tracing::info!("created database");
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}
