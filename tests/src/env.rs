//! One isolated environment per test: database, queue prefix, Redis prefix, proxies.

use std::{net::SocketAddr, time::Duration};

use lapin::{Connection, ConnectionProperties, options::QueueDeclareOptions, types::FieldTable};
use serde_json::Value;
use sqlx::PgPool;

use crate::{Service, TcpProxy, eventually};

fn upstream(var: &str, default: &str) -> SocketAddr {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .parse()
        .expect("socket address")
}

/// Names and addresses of one test's slice of the shared servers.
#[derive(Debug, Clone)]
struct Slice {
    id: String,
    db_name: String,
    queue_prefix: String,
    redis_prefix: String,
    pg: SocketAddr,
    redis: SocketAddr,
    amqp: SocketAddr,
}

/// An isolated slice of the shared servers, reached through cuttable proxies.
pub struct TestEnv {
    slice: Slice,
    /// Key created by the api at start (`ORATOR_BOOTSTRAP_API_KEY`).
    pub api_key: String,
    /// Proxy in front of PostgreSQL.
    pub pg: TcpProxy,
    /// Proxy in front of Redis.
    pub redis: TcpProxy,
    /// Proxy in front of RabbitMQ.
    pub amqp: TcpProxy,
}

impl TestEnv {
    /// A fresh environment; nothing is created on the servers until a service starts.
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let pg_upstream = upstream("TEST_PG_ADDR", "127.0.0.1:5432");
        let redis_upstream = upstream("TEST_REDIS_ADDR", "127.0.0.1:6379");
        let amqp_upstream = upstream("TEST_AMQP_ADDR", "127.0.0.1:5672");
        Self {
            api_key: format!("ork_test_{id}"),
            pg: TcpProxy::start(pg_upstream).await,
            redis: TcpProxy::start(redis_upstream).await,
            amqp: TcpProxy::start(amqp_upstream).await,
            slice: Slice {
                db_name: format!("orator_test_{id}"),
                queue_prefix: format!("test.{id}."),
                redis_prefix: format!("orator-test:{id}:"),
                id,
                pg: pg_upstream,
                redis: redis_upstream,
                amqp: amqp_upstream,
            },
        }
    }

    /// Environment shared by api and worker: every connection goes through a proxy.
    pub fn service_env(&self) -> Vec<(String, String)> {
        [
            (
                "DATABASE_URL",
                format!(
                    "postgres://postgres@127.0.0.1:{}/{}",
                    self.pg.port(),
                    self.slice.db_name
                ),
            ),
            ("REDIS_URL", format!("redis://127.0.0.1:{}", self.redis.port())),
            (
                "AMQP_URL",
                format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp.port()),
            ),
            ("ORATOR_QUEUE_PREFIX", self.slice.queue_prefix.clone()),
            ("ORATOR_REDIS_PREFIX", self.slice.redis_prefix.clone()),
            ("ORATOR_HTTP_ADDR", "127.0.0.1:0".into()),
            ("ORATOR_HEALTH_TIMEOUT_MS", "500".into()),
            ("RUST_LOG", "info,lapin=warn,sqlx=warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn with(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.service_env();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        env
    }

    /// Settings for the neural engine with the voice and runtime that scripts/fetch-models.sh
    /// fetched (deterministic, one thread: tests share two cores).
    pub fn piper() -> Vec<(&'static str, String)> {
        let dir = std::env::var_os("ORATOR_MODELS_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.models"));
        let voice = dir.join("piper/en_US-joe-medium.onnx");
        assert!(
            voice.is_file(),
            "{} is missing: run scripts/fetch-models.sh (scripts/setup.sh does)",
            voice.display()
        );
        vec![
            ("ORATOR_PIPER_VOICES", voice.display().to_string()),
            (
                "ORATOR_ONNXRUNTIME_LIB",
                dir.join("onnxruntime/libonnxruntime.so.1.31.1").display().to_string(),
            ),
            ("ORATOR_PIPER_DETERMINISTIC", "true".into()),
            ("ORATOR_PIPER_THREADS", "1".into()),
        ]
    }

    /// Starts `orator-api` (which creates and migrates the database).
    pub async fn api(&self, extra: &[(&str, &str)]) -> Api {
        let mut env = self.with(extra);
        env.push(("ORATOR_BOOTSTRAP_API_KEY".into(), self.api_key.clone()));
        let service = Service::spawn("orator-api", "api", &env).await;
        Api {
            service,
            http: reqwest::Client::new(),
            key: self.api_key.clone(),
        }
    }

    /// Starts `orator-worker`.
    pub async fn worker(&self, extra: &[(&str, &str)]) -> Service {
        Service::spawn("orator-worker", "worker", &self.with(extra)).await
    }

    /// A direct (unproxied) connection to the test's database, for assertions.
    pub async fn db(&self) -> PgPool {
        let url = format!("postgres://postgres@{}/{}", self.slice.pg, self.slice.db_name);
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("test database")
    }

    /// Messages ready in the queue `tts.jobs<suffix>` (e.g. "" or ".dead").
    pub async fn queue_depth(&self, suffix: &str) -> u32 {
        let conn = self.slice.amqp_direct().await;
        let channel = conn.create_channel().await.unwrap();
        let name = format!("{}tts.jobs{suffix}", self.slice.queue_prefix);
        let q = channel
            .queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("queue exists");
        let _ = conn.close(200, "bye".into()).await;
        q.message_count()
    }

    /// Publishes `body` as is to the queue `tts.jobs<suffix>`, past the service (for poison
    /// messages and duplicate deliveries), and waits for the broker's confirm.
    pub async fn publish_raw(&self, suffix: &str, body: &[u8]) {
        let conn = self.slice.amqp_direct().await;
        let channel = conn.create_channel().await.unwrap();
        channel
            .confirm_select(lapin::options::ConfirmSelectOptions::default())
            .await
            .unwrap();
        let name = format!("{}tts.jobs{suffix}", self.slice.queue_prefix);
        let confirm = channel
            .basic_publish(
                "".into(),
                name.as_str().into(),
                lapin::options::BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                body,
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        // Returned means no such queue yet (a worker declares it when it starts consuming).
        assert!(
            matches!(confirm, lapin::Confirmation::Ack(None)),
            "the raw message was not stored in {name}: {confirm:?}"
        );
        let _ = conn.close(200, "bye".into()).await;
    }

    /// A small executable that stands in for espeak-ng: it answers the start-up queries
    /// with the real binary and runs `body` (a shell snippet) before each synthesis.
    pub fn espeak_wrapper(&self, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.slice.scratch();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let script = format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --version|--voices*) exec espeak-ng \"$@\";; esac; done\n{body}\nexec espeak-ng \"$@\"\n"
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }
}

impl Slice {
    fn scratch(&self) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("orator-e2e-{}", self.id))
    }

    async fn amqp_direct(&self) -> Connection {
        let url = format!("amqp://guest:guest@{}/%2f", self.amqp);
        Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("RabbitMQ")
    }

    async fn cleanup(&self) {
        if let Ok(admin) = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&format!("postgres://postgres@{}/postgres", self.pg))
            .await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.db_name);
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&admin).await {
                eprintln!("cleanup: {e}");
            }
        }
        if let Ok(pool) = deadpool_redis::Config::from_url(format!("redis://{}", self.redis))
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            && let Ok(mut conn) = pool.get().await
        {
            use deadpool_redis::redis;
            let pattern = format!("{}*", self.redis_prefix);
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
            }
        }
        let conn = self.amqp_direct().await;
        if let Ok(channel) = conn.create_channel().await {
            for suffix in ["", ".retry", ".dead"] {
                let name = format!("{}tts.jobs{suffix}", self.queue_prefix);
                let _ = channel.queue_delete(name.as_str().into(), Default::default()).await;
            }
            let exchange = format!("{}tts", self.queue_prefix);
            let _ = channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await;
        }
        let _ = conn.close(200, "bye".into()).await;
        let _ = std::fs::remove_dir_all(self.scratch());
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Runs even when the test panicked, on a fresh thread with its own runtime because
        // the test's runtime may be shutting down.
        let slice = self.slice.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(slice.cleanup())
        })
        .join();
    }
}

/// A running api and an authenticated client for it.
pub struct Api {
    /// The process.
    pub service: Service,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The bootstrap key.
    pub key: String,
}

impl Api {
    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.service.url())
    }

    /// An authenticated request.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.key)
    }

    /// `POST /v1/audio/speech` with `body`.
    pub async fn speech(&self, body: Value) -> reqwest::Response {
        self.request(reqwest::Method::POST, "/v1/audio/speech")
            .json(&body)
            .send()
            .await
            .expect("speech request")
    }

    /// `POST /v1/jobs` with `body`; returns the job JSON (asserting 202).
    pub async fn create_job(&self, body: Value) -> Value {
        let response = self
            .request(reqwest::Method::POST, "/v1/jobs")
            .json(&body)
            .send()
            .await
            .expect("job request");
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    /// `GET /v1/jobs/{id}`.
    pub async fn job(&self, id: &str) -> Value {
        let response = self
            .request(reqwest::Method::GET, &format!("/v1/jobs/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Polls the job until its status is `status`.
    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        eventually(&format!("job {id} to be {status}"), timeout, || async {
            let job = self.job(id).await;
            (job["status"] == status).then_some(job)
        })
        .await
    }
}
