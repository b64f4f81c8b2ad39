//! Per-request costs of the telemetry pipeline, installed exactly as the binaries install it
//! (`orator_telemetry::init`: JSON logs, spans with trace ids, the Prometheus recorder):
//!
//! - `logging/json_line`: one log event inside a request span, formatted as JSON and written;
//! - `http/instrumented` vs `http/bare`: a small JSON route behind `http::instrument`
//!   (request id, server span, `traceparent` in and out, metrics, access log) and without it.
//!   The difference is what the instrumentation layer costs each request.
//!
//! The formatter writes to stdout, as in production; while criterion times a sample, stdout
//! points at /dev/null (see [`quiet`]) so the report is not buried under log lines.
//!
//! Run: `cargo bench -p orator-telemetry --bench requests`.

use std::{hint::black_box, time::Instant};

use axum::{Json, Router, body::Body, http::Request, routing::get};
use criterion::Criterion;
use tower::ServiceExt;

const SERVICE: orator_telemetry::ServiceInfo = orator_telemetry::ServiceInfo {
    name: "orator-bench",
    version: "0.0.0",
    revision: "bench",
    metrics_namespace: "orator",
};

async fn models() -> Json<serde_json::Value> {
    Json(serde_json::json!({"object": "list", "data": [{"id": "tts-1", "object": "model"}]}))
}

fn request() -> Request<Body> {
    Request::get("/v1/models")
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .header("user-agent", "bench")
        .body(Body::empty())
        .expect("valid request")
}

fn benches(c: &mut Criterion, runtime: &tokio::runtime::Runtime) {
    c.bench_function("logging/json_line", |b| {
        let span = tracing::info_span!(
            "http_request",
            request_id = "5b1e6c1a-8e57-4f3e-9d0a-0c6b7f4f2d11",
            http.route = "/v1/models"
        );
        let _entered = span.enter();
        b.iter_custom(|iters| {
            let _quiet = quiet::Stdout::to_null();
            let start = Instant::now();
            for i in 0..iters {
                tracing::info!(
                    method = "GET",
                    status = 200u16,
                    duration_ms = 1.25,
                    bytes = black_box(i),
                    "request completed"
                );
            }
            start.elapsed()
        })
    });

    let bare = Router::new().route("/v1/models", get(models));
    let instrumented = orator_telemetry::http::instrument(bare.clone());
    for (name, router) in [("http/bare", bare), ("http/instrumented", instrumented)] {
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let _quiet = quiet::Stdout::to_null();
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let response = router.clone().oneshot(request()).await.expect("infallible");
                        assert!(response.status().is_success());
                        black_box(response);
                    }
                    start.elapsed()
                })
            })
        });
    }
}

fn main() {
    // SAFETY: no other thread runs yet. Spans still get ids without an exporter, and the
    // default filter keeps the measurement independent of the caller's RUST_LOG.
    unsafe {
        std::env::set_var("OTEL_SDK_DISABLED", "true");
        std::env::set_var("RUST_LOG", orator_telemetry::logging::DEFAULT_FILTER);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    let _telemetry = orator_telemetry::init(SERVICE, &[]).expect("telemetry");
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &runtime);
    c.final_summary();
}

/// Silencing stdout for the timed part of a sample. The standard library cannot redirect a
/// file descriptor (no `dup2`), but POSIX hands out the lowest free number: closing fd 1 and
/// opening a file puts that file on fd 1; reopening the saved original through
/// `/proc/self/fd` puts it back. Nothing else in this process opens files meanwhile.
mod quiet {
    use std::{
        fs::OpenOptions,
        io::Write,
        os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd},
    };

    /// While alive, stdout is /dev/null.
    pub struct Stdout {
        saved: OwnedFd,
    }

    impl Stdout {
        pub fn to_null() -> Self {
            let _ = std::io::stdout().flush();
            let saved = std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .expect("duplicate stdout");
            put_on_stdout("/dev/null");
            Self { saved }
        }
    }

    impl Drop for Stdout {
        fn drop(&mut self) {
            let _ = std::io::stdout().flush();
            put_on_stdout(&format!("/proc/self/fd/{}", self.saved.as_raw_fd()));
        }
    }

    fn put_on_stdout(path: &str) {
        // SAFETY: fd 1 is open and nothing owns it as an `OwnedFd`; `std::io::stdout()` only
        // writes to the number, which is valid again right below.
        drop(unsafe { OwnedFd::from_raw_fd(1) });
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open {path} as stdout: {e}"));
        let fd = file.into_raw_fd();
        assert_eq!(fd, 1, "{path} did not land on fd 1 (is stdin closed?)");
    }
}
