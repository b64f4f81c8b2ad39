//! Builds the api from its config and serves it until SIGTERM/SIGINT.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use orator_core::domain::Models;
use orator_core::{
    admission::Admission,
    completion::Completions,
    db::{self, api_keys},
    faults::FaultSwitch,
    gauges, health,
    hot_cache::HotCache,
    metrics::{AUTH_FAILURES, RATE_LIMITED},
    queue::{Broker, Relay, Replies, Topology},
    speech::Speech,
};
use orator_engine::{Engines, EspeakConfig, EspeakEngine, Synthesizer, piper::PiperEngine};
use orator_telemetry::health::{Criticality, Registry};
use sqlx::PgPool;
use tokio::{net::TcpListener, sync::watch};

use crate::{config::ApiConfig, limits::WindowLimit, routes, state::AppState};

/// Opens the database, creating and migrating it when the config says so.
pub async fn database(config: &ApiConfig) -> anyhow::Result<PgPool> {
    let c = &config.connections;
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

/// Runs the HTTP server and the outbox relay.
pub async fn serve(config: ApiConfig) -> anyhow::Result<()> {
    let telemetry =
        orator_telemetry::init(orator_core::service_info("orator-api"), &[]).context("starting telemetry")?;
    orator_core::metrics::describe();
    metrics::describe_counter!(
        routes::admin::ALERTS_RECEIVED,
        "Alerts received by the webhook receiver, by name and status."
    );
    metrics::counter!(RATE_LIMITED).increment(0);
    for reason in ["missing", "invalid"] {
        metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(0);
    }
    let pool = database(&config).await?;
    if let Some(key) = &config.bootstrap_api_key {
        api_keys::ensure(&pool, "bootstrap", key)
            .await
            .context("creating ORATOR_BOOTSTRAP_API_KEY")?;
    }
    let c = &config.connections;
    let redis = c.redis().context("REDIS_URL")?;
    let broker = Arc::new(Broker::new(
        c.amqp_url.clone(),
        "orator-api",
        Topology::new(&c.queue_prefix),
        Duration::from_secs(3),
    ));
    let relay = Relay::new(pool.clone(), broker.clone(), config.outbox_poll);
    let (stop_relay, relay_stopped) = watch::channel(false);
    let relay_task = tokio::spawn(relay.clone().run(relay_stopped));
    let engine = EspeakEngine::new(EspeakConfig {
        binary: config.espeak_binary.clone().into(),
        max_concurrency: 1,
    })
    .await
    .context("loading the espeak-ng voice catalogue (ORATOR_ESPEAK_BINARY)")?;
    let engine_version = engine.version().to_owned();
    let mut list: Vec<Arc<dyn Synthesizer>> = vec![Arc::new(engine)];
    if let Some(piper) = config.piper.clone() {
        // Only the voices' configs: the models are the workers' to load.
        let piper = PiperEngine::open(piper).context("reading the Piper voices (ORATOR_PIPER_VOICES)")?;
        list.push(Arc::new(piper));
    }
    let engines = Engines::new(list);

    // PostgreSQL is needed to serve; without Redis the cache is bypassed and without
    // RabbitMQ jobs wait in the outbox, so those only degrade the api.
    let checks = Registry::new(c.health_timeout)
        .with(health::Postgres(pool.clone()), Criticality::Critical)
        .with(health::RedisPing(redis.clone()), Criticality::Optional)
        .with(
            health::RabbitMq::within(broker.clone(), c.health_timeout),
            Criticality::Optional,
        );
    let polling = tokio::spawn(gauges::api(pool.clone(), config.gauge_interval));
    let admission = Admission::new(config.admission);
    Admission::describe(crate::admission::ROUTES);
    let backlog = tokio::spawn(admission.clone().watch_backlog(pool.clone()));
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
    let redis_for_faults = redis.clone();
    let state = AppState {
        speech,
        admission,
        pool,
        redis,
        engine_version,
        models: Models::new(engines.clone(), &config.model_engines)
            .map_err(|e| anyhow::anyhow!("ORATOR_MODEL_ENGINES: {e}"))?,
        engines,
        broker,
        metrics: telemetry.metrics(),
        started: std::time::Instant::now(),
        faults: FaultSwitch::start(redis_for_faults, config.faults, Duration::from_secs(1)),
        keys: crate::key_cache::KeyCache::new(config.auth_cache_ttl),
        auth_failures: WindowLimit::new(config.auth_failures_per_minute, Duration::from_secs(60)),
        local_rate: WindowLimit::new(config.rate_limit, config.rate_limit_window),
        config: Arc::new(config.clone()),
    };
    let app = routes::router(state)
        .merge(orator_telemetry::health::router(checks))
        .merge(orator_telemetry::metrics::router(
            telemetry.metrics(),
            config.metrics_token.clone(),
        ));

    let listener = TcpListener::bind(config.http_addr)
        .await
        .context("binding ORATOR_HTTP_ADDR")?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
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
    drop(telemetry);
    Ok(())
}
