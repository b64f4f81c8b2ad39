//! Builds the worker from its config and runs it until SIGTERM/SIGINT.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use orator_core::{
    db,
    faults::FaultSwitch,
    gauges, health,
    metrics::{AUDIO_BUCKETS, AUDIO_SECONDS, DEAD_LETTERED, JOBS_PROCESSED, SETTLED},
    startup,
};
use orator_engine::{Engines, Synthesizer, observed, piper::PiperEngine};
use orator_telemetry::health::{Criticality, Registry};
use tokio::sync::watch;

use crate::{config::WorkerConfig, consumer, faulty::Faulty, process::Context};

/// Starts counters of rare events at zero, so "none yet" is visible as 0, not absence.
fn zero_counters() {
    for outcome in ["succeeded", "retried", "failed", "skipped", "expired", "reused"] {
        metrics::counter!(JOBS_PROCESSED, "outcome" => outcome).increment(0);
    }
    for disposition in ["ack", "reject", "requeue"] {
        metrics::counter!(SETTLED, "disposition" => disposition).increment(0);
    }
    for reason in ["exhausted", "permanent", "unreadable"] {
        metrics::counter!(DEAD_LETTERED, "reason" => reason).increment(0);
    }
}

/// Runs the consumer and the health/metrics server.
pub async fn run(config: WorkerConfig) -> anyhow::Result<()> {
    let common = &config.common;
    let base = startup::foundations(
        "orator-worker",
        &[
            (observed::REAL_TIME_FACTOR, observed::RTF_BUCKETS),
            (AUDIO_SECONDS, AUDIO_BUCKETS),
        ],
        common,
    )?;
    crate::maintenance::describe();
    zero_counters();
    let c = &common.connections;
    // The api owns migrations; the worker connects lazily and waits for them below, so it
    // can start beside a fresh api (reporting itself not ready) instead of exiting.
    let pool =
        db::connect_lazy(&c.database_url, c.db_max_connections, c.db_statement_timeout).context("DATABASE_URL")?;
    let (redis, broker) = (base.redis.clone(), base.broker.clone());
    let engine = startup::espeak(common, config.engine_concurrency).await?;
    observed::register(engine.name(), engine.version());
    tracing::info!(
        engine = engine.name(),
        version = engine.version(),
        voices = engine.voices().len(),
        "engine ready"
    );
    let faults = FaultSwitch::start(redis.clone(), common.faults, Duration::from_secs(1));
    let mut engines: Vec<Arc<dyn Synthesizer>> = vec![Arc::new(Faulty::new(Arc::new(engine), faults.clone()))];
    let models = match config.piper.clone() {
        None => None,
        Some((voices, runtime)) => match PiperEngine::open(voices.clone()) {
            Ok(piper) => {
                let piper = Arc::new(piper);
                engines.push(Arc::new(Faulty::new(piper.clone(), faults.clone())));
                // Loading takes seconds: espeak-ng serves meanwhile, and readiness waits.
                let loading = piper.clone();
                tokio::spawn(async move {
                    if let Err(e) = loading.load(runtime).await {
                        tracing::error!(engine = "piper", error = %e, "models failed to load; espeak-ng still serves");
                    }
                });
                Some(health::Models::Engine(piper))
            }
            Err(e) => {
                tracing::error!(engine = "piper", error = %e, "cannot read the Piper voices; espeak-ng still serves");
                for path in &voices.voices {
                    let model = path
                        .file_stem()
                        .map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
                    observed::model_unreadable(orator_engine::piper::NAME, &model);
                }
                Some(health::Models::Unreadable(e.to_string()))
            }
        },
    };

    // Without PostgreSQL or RabbitMQ the worker cannot do its work; Redis only speeds up
    // later requests.
    let checks = Registry::new(c.health_timeout)
        .with(health::Postgres(pool.clone()), Criticality::Critical)
        .with(
            health::RabbitMq::within(broker.clone(), c.health_timeout),
            Criticality::Critical,
        )
        .with(health::RedisPing(redis.clone()), Criticality::Optional);
    let checks = match models {
        Some(models) => checks.with(models, Criticality::Critical),
        None => checks,
    };
    let app = startup::probes(checks, &base, common);
    let listener = startup::listen(common).await?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let polling = tokio::spawn(gauges::worker(pool.clone(), broker.clone(), common.gauge_interval));

    let ctx = Arc::new(Context {
        pool,
        redis,
        broker,
        engines: Engines::new(engines),
        encoders: tokio::sync::Semaphore::new(config.engine_concurrency.max(1)),
        config,
    });
    let (stop, stopped) = watch::channel(false);
    let stop_maintenance = stopped.clone();
    let consuming = tokio::spawn(async move {
        db::wait_for_schema(&ctx.pool).await;
        tracing::info!("database ready; consuming");
        let housekeeping = crate::maintenance::run(ctx.pool.clone(), ctx.config.maintenance, stop_maintenance);
        tokio::join!(consumer::run(ctx, stopped), housekeeping);
    });
    orator_telemetry::shutdown::signal().await;
    let _ = stop.send(true);
    consuming.await.context("consumer task")?;
    polling.abort();
    server.abort();
    tracing::info!("stopped");
    drop(base);
    Ok(())
}
