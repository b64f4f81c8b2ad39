//! PostgreSQL: the pool, migrations and one repository module per table.

pub mod api_keys;
pub mod audio;
pub mod jobs;
pub mod maintenance;
pub mod outbox;

use std::{
    future::Future,
    time::{Duration, Instant},
};

use sqlx::{
    PgPool, Postgres, Transaction,
    migrate::MigrateDatabase,
    pool::PoolConnection,
    postgres::{PgConnectOptions, PgPoolOptions},
};

/// Channel on which a finished job's id is announced (`NOTIFY`), committed with the job.
pub const JOB_DONE_CHANNEL: &str = "orator_job_done";

/// Opens a pool. With `create_database`, a missing database is created first. Every
/// statement is bounded by `statement_timeout` on the server, so a stuck query ends there
/// too, not only in the caller that gave up on it.
pub async fn connect(
    url: &str,
    max_connections: u32,
    create_database: bool,
    statement_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    if create_database && !Postgres::database_exists(url).await? {
        // Two api replicas may race here; losing the race is fine.
        if let Err(e) = Postgres::create_database(url).await
            && !Postgres::database_exists(url).await?
        {
            return Err(e);
        }
        tracing::info!("created database");
    }
    let pool = connect_lazy(url, max_connections, statement_timeout)?;
    // Proves the settings now, as a start-up error, instead of on the first request.
    drop(pool.acquire().await?);
    Ok(pool)
}

/// A pool that connects on first use: for a process that must start (and report itself
/// not ready) before its database exists.
pub fn connect_lazy(url: &str, max_connections: u32, statement_timeout: Duration) -> Result<PgPool, sqlx::Error> {
    let _ = CLIENT_TIMEOUT.set(statement_timeout + Duration::from_secs(1));
    let options = url
        .parse::<PgConnectOptions>()?
        .options([("statement_timeout", statement_timeout.as_millis().to_string())]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        // No ping per checkout (a round trip on every query): a connection that died is
        // found by the query itself and dropped from the pool.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

/// Waits until the schema this build needs is in place (the api migrates it), logging what
/// it waits for every few seconds.
pub async fn wait_for_schema(pool: &PgPool) {
    let mut last_log: Option<Instant> = None;
    loop {
        match sqlx::query("SELECT error_code, claimed_until FROM jobs, outbox LIMIT 0")
            .execute(pool)
            .await
        {
            Ok(_) => return,
            Err(e) => {
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                    tracing::warn!(error = %e, "waiting for the database and its migrations (the api applies them)");
                    last_log = Some(Instant::now());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Applies the embedded migrations.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("../../migrations").run(pool).await
}

/// `db.client.connection.wait_time`: how long callers waited for a pooled connection.
pub const CONNECTION_WAIT: &str = "db_client_connection_wait_time_seconds";
/// Pooled connections by state (idle, used).
pub const CONNECTION_COUNT: &str = "db_client_connection_count";
/// Largest size the pool may grow to.
pub const CONNECTION_MAX: &str = "db_client_connection_max";

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
    let tx = client_bounded(pool.begin()).await;
    metrics::histogram!(CONNECTION_WAIT).record(start.elapsed().as_secs_f64());
    tx
}

/// Runs one statement in a traced, timed CLIENT span, given up on shortly after the
/// server's `statement_timeout` would have ended it: a stalled network never answers, and
/// the server's own limit cannot help then.
pub(crate) async fn timed<T>(
    operation: &'static str,
    table: &'static str,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    orator_telemetry::instrument::db("postgresql", operation, table, client_bounded(work)).await
}

/// The client-side bound: `statement_timeout` plus a second for the round trip.
static CLIENT_TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();

async fn client_bounded<T>(work: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, sqlx::Error> {
    let limit = CLIENT_TIMEOUT.get().copied().unwrap_or(Duration::from_secs(30));
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("PostgreSQL did not answer within {limit:?}"),
        )))
    })
}

/// Publishes the pool's size and use (`db.client.connection.*`).
pub fn record_pool_stats(pool: &PgPool) {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!(CONNECTION_COUNT, "state" => "idle").set(idle);
    metrics::gauge!(CONNECTION_COUNT, "state" => "used").set(size - idle);
    metrics::gauge!(CONNECTION_MAX).set(f64::from(pool.options().get_max_connections()));
}
