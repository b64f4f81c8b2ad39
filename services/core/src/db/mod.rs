//! PostgreSQL: the pool, migrations and one repository module per table.

pub mod api_keys;
pub mod audio;
pub mod jobs;
pub mod outbox;

use std::{
    future::Future,
    time::{Duration, Instant},
};

use sqlx::{PgPool, Postgres, Transaction, migrate::MigrateDatabase, pool::PoolConnection, postgres::PgPoolOptions};

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
        // No ping per checkout (a round trip on every query): a connection that died is
        // found by the query itself and dropped from the pool.
        .test_before_acquire(false)
        .connect(url)
        .await
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}

/// `db.client.connection.wait_time`: how long callers waited for a pooled connection.
pub const CONNECTION_WAIT: &str = "db_client_connection_wait_time_seconds";

/// A pooled connection, recording how long the pool made us wait.
pub(crate) async fn acquire(pool: &PgPool) -> Result<PoolConnection<Postgres>, sqlx::Error> {
    let start = Instant::now();
    let conn = pool.acquire().await;
    metrics::histogram!(CONNECTION_WAIT).record(start.elapsed().as_secs_f64());
    conn
}

/// A transaction; the recorded wait includes the `BEGIN` round trip.
pub(crate) async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let start = Instant::now();
    let tx = pool.begin().await;
    metrics::histogram!(CONNECTION_WAIT).record(start.elapsed().as_secs_f64());
    tx
}

/// Runs one statement in a traced, timed CLIENT span.
pub(crate) async fn timed<T>(
    operation: &'static str,
    table: &'static str,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    orator_telemetry::instrument::db("postgresql", operation, table, work).await
}

/// Publishes the pool's size and use (`db.client.connection.*`).
pub fn record_pool_stats(pool: &PgPool) {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!("db_client_connection_count", "state" => "idle").set(idle);
    metrics::gauge!("db_client_connection_count", "state" => "used").set(size - idle);
    metrics::gauge!("db_client_connection_max").set(f64::from(pool.options().get_max_connections()));
}
