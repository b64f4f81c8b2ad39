//! Builds the api from its config and serves it until SIGTERM/SIGINT.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use orator_core::{
    admission::Admission,
    cache::Redis,
    completion::Completions,
    db::{self, api_keys},
    domain::Models,
    faults::FaultSwitch,
    gauges, health,
    hot_cache::HotCache,
    metrics::{AUTH_FAILURES, RATE_LIMITED},
    queue::{Broker, Relay, Replies},
    speech::Speech,
    startup,
};
use orator_engine::{Engines, Synthesizer, piper::PiperEngine};
use orator_telemetry::health::{Criticality, Registry};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::{config::ApiConfig, limits::WindowLimit, routes, state::AppState};

/// Opens the database, creating and migrating it when the config says so.
pub async fn database(config: &ApiConfig) -> anyhow::Result<PgPool> {
    let c = &config.common.connections;
    let pool = db::connect(
        &c.database_url,
        c.db_max_connections,
        config.migrate,
        c.db_statement_timeout,
    )
    .await
    .context("connecting to PostgreSQL (DATABASE_URL)")?;
    if config.migrate {
        db::migrate(&pool).await.context("running migrations")?;
    }
    Ok(pool)
}

/// Starts api-only counters at zero, so "none yet" is visible as 0, not absence.
fn describe() {
    metrics::describe_counter!(
        routes::admin::ALERTS_RECEIVED,
        "Alerts received by the webhook receiver, by name and status."
    );
    metrics::counter!(RATE_LIMITED).increment(0);
    for reason in ["missing", "invalid"] {
        metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(0);
    }
    Admission::describe(crate::admission::ROUTES);
}

/// What the routes reach, over connections that may not be up yet: nothing here waits for
/// PostgreSQL, Redis or RabbitMQ, so in-process tests build it against unreachable ones.
pub async fn state(
    config: &ApiConfig,
    pool: PgPool,
    redis: Redis,
    broker: Arc<Broker>,
    relay: Relay,
    metrics: PrometheusHandle,
) -> anyhow::Result<AppState> {
    // One process at most: the api only reads espeak-ng's voice catalogue.
    let engine = startup::espeak(&config.common, 1).await?;
    let engine_version = engine.version().to_owned();
    let mut list: Vec<Arc<dyn Synthesizer>> = vec![Arc::new(engine)];
    if let Some(piper) = config.piper.clone() {
        // Only the voices' configs: the models are the workers' to load.
        let piper = PiperEngine::open(piper).context("reading the Piper voices (ORATOR_PIPER_VOICES)")?;
        list.push(Arc::new(piper));
    }
    let engines = Engines::new(list);
    let admission = Admission::new(config.admission);
    let speech = Speech::new(
        pool.clone(),
        redis.clone(),
        relay,
        Completions::start(pool.clone()),
        Replies::start(broker.clone()),
        admission.clone(),
        HotCache::new(config.hot_cache_bytes, config.hot_cache_ttl),
        config.sync_timeout,
    );
    Ok(AppState {
        speech,
        admission,
        pool,
        faults: FaultSwitch::start(redis.clone(), config.common.faults, Duration::from_secs(1)),
        redis,
        engine_version,
        models: Models::new(engines.clone(), &config.model_engines)
            .map_err(|e| anyhow::anyhow!("ORATOR_MODEL_ENGINES: {e}"))?,
        engines,
        broker,
        metrics,
        started: std::time::Instant::now(),
        keys: crate::key_cache::KeyCache::new(config.auth_cache_ttl),
        auth_failures: WindowLimit::new(config.auth_failures_per_minute, Duration::from_secs(60)),
        local_rate: WindowLimit::new(config.rate_limit, config.rate_limit_window),
        config: Arc::new(config.clone()),
    })
}

/// Runs the HTTP server and the outbox relay.
pub async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let common = &config.common;
    let base = startup::foundations("orator-api", &[], common)?;
    describe();
    let pool = database(&config).await?;
    if let Some(key) = &config.bootstrap_api_key {
        api_keys::ensure(&pool, "bootstrap", key)
            .await
            .context("creating ORATOR_BOOTSTRAP_API_KEY")?;
    }
    let (redis, broker) = (base.redis.clone(), base.broker.clone());
    let relay = Relay::new(pool.clone(), broker.clone(), config.outbox_poll);
    let (stop_relay, relay_stopped) = watch::channel(false);
    let relay_task = tokio::spawn(relay.clone().run(relay_stopped));
    let state = state(
        &config,
        pool.clone(),
        redis.clone(),
        broker.clone(),
        relay,
        base.telemetry.metrics(),
    )
    .await?;

    // PostgreSQL is needed to serve; without Redis the cache is bypassed and without
    // RabbitMQ jobs wait in the outbox, so those only degrade the api.
    let timeout = common.connections.health_timeout;
    let checks = Registry::new(timeout)
        .with(health::Postgres(pool.clone()), Criticality::Critical)
        .with(health::RedisPing(redis), Criticality::Optional)
        .with(health::RabbitMq::within(broker, timeout), Criticality::Optional);
    let polling = tokio::spawn(gauges::api(pool.clone(), common.gauge_interval));
    let backlog = tokio::spawn(state.admission.clone().watch_backlog(pool));
    let app = routes::router(state).merge(startup::probes(checks, &base, common));
    let listener = startup::listen(common).await?;
    let listener = crate::listener::Bounded::new(listener, config.max_connections);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<crate::listener::ClientAddr>(),
    )
    .with_graceful_shutdown(orator_telemetry::shutdown::signal())
    .await?;
    let _ = stop_relay.send(true);
    let _ = relay_task.await;
    polling.abort();
    backlog.abort();
    tracing::info!("stopped");
    drop(base);
    Ok(())
}
