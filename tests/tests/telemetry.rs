//! The signals themselves: the metrics catalogue against both `/metrics`, one trace across
//! the queue (child and link modes), JSON logs tied to traces, bounded cardinality.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use orator_e2e::{
    TestEnv,
    catalogue::{Catalogue, promtool_check, repo_root},
    eventually,
    otlp::{Receiver, Span},
    scenario::{self, SECRET_TEXT},
};
use reqwest::Method;
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-key";

async fn metrics_of(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn extra_env() -> Vec<(&'static str, &'static str)> {
    scenario::env(ADMIN)
}

#[tokio::test]
async fn both_metrics_endpoints_expose_exactly_the_catalogue() {
    let env = TestEnv::new().await;
    // Both engines, so that the neural engine's families are checked too.
    let piper = TestEnv::piper();
    let vars: Vec<(&str, &str)> = extra_env()
        .into_iter()
        .chain(piper.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    let api = env.api(&vars).await;
    let worker = env.worker(&vars).await;
    worker.wait_ready(Duration::from_secs(60)).await;
    scenario::run(&api, &worker, ADMIN).await;

    let catalogue = Catalogue::load();
    for (binary, url) in [("api", api.service.url()), ("worker", worker.url())] {
        let exposition = metrics_of(&url).await;
        promtool_check(&exposition, binary);
        catalogue.assert_exposed_exactly(binary, &exposition);
    }
}

#[test]
fn every_catalogued_metric_names_the_file_that_defines_it() {
    let misplaced = Catalogue::load().misplaced_sources();
    assert!(
        misplaced.is_empty(),
        "fix `source:` in monitoring/metrics.yaml:\n{}",
        misplaced.join("\n")
    );
}

#[test]
fn docs_metrics_md_matches_the_catalogue() {
    let rendered = Catalogue::load().markdown();
    let path = repo_root().join("docs/metrics.md");
    if std::env::var("UPDATE_METRICS_DOC").is_ok() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == rendered,
        "docs/metrics.md is stale: run UPDATE_METRICS_DOC=1 cargo test -p orator-e2e docs_metrics_md"
    );
    // Names follow Prometheus conventions.
    for m in Catalogue::load().metrics() {
        match m.kind.as_str() {
            "counter" => assert!(m.name.ends_with("_total"), "{} is a counter without _total", m.name),
            "histogram" | "gauge" => assert!(!m.name.ends_with("_total"), "{} is not a counter", m.name),
            other => panic!("{}: unknown type {other}", m.name),
        }
        if m.unit == "seconds" {
            assert!(m.name.contains("_seconds"), "{}: seconds without _seconds", m.name);
        }
        if m.unit == "bytes" {
            assert!(m.name.contains("_bytes"), "{}: bytes without _bytes", m.name);
        }
    }
}

fn find(spans: &[Span], what: impl Fn(&Span) -> bool) -> Option<&Span> {
    spans.iter().find(|s| what(s))
}

/// The spans of one async job, from HTTP request to stored audio.
async fn job_trace(link_mode: bool) {
    let receiver = Receiver::start().await;
    let env = TestEnv::new().await;
    // The api exports over gRPC, the worker over HTTP/protobuf: both protocols in every run.
    let api_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", receiver.grpc)),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
    ];
    let worker_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", receiver.http)),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ("ORATOR_TRACE_QUEUE_LINK", link_mode.to_string()),
    ];
    let as_refs = |v: &[(&'static str, String)]| v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let api_vars = as_refs(&api_env);
    let worker_vars = as_refs(&worker_env);
    let api = env
        .api(&api_vars.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
        .await;
    let _worker = env
        .worker(&worker_vars.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>())
        .await;

    let incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = api
        .request(Method::POST, "/v1/jobs")
        .header("traceparent", format!("00-{incoming_trace}-00f067aa0ba902b7-01"))
        .json(&json!({"model": "tts-1", "input": SECRET_TEXT, "voice": "nova", "response_format": "opus"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let returned = response.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(
        returned.starts_with(&format!("00-{incoming_trace}-")),
        "traceparent not continued: {returned}"
    );
    let job: Value = response.json().await.unwrap();
    api.wait_for_status(job["id"].as_str().unwrap(), "succeeded", Duration::from_secs(20))
        .await;

    let spans = eventually("the worker's spans to arrive", Duration::from_secs(15), || async {
        let spans = receiver.spans.all();
        // The consumer span ends last (it encloses the rest), possibly in a later batch.
        let stored = spans
            .iter()
            .any(|s| s.name.starts_with("store") && s.service == "orator-worker");
        let consumed = spans.iter().any(|s| s.kind == SpanKind::Consumer);
        (stored && consumed).then_some(spans)
    })
    .await;

    let server = find(&spans, |s| s.name == "POST /v1/jobs").expect("HTTP server span");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.trace_id, incoming_trace, "incoming traceparent honoured");
    assert_eq!(server.parent_span_id, "00f067aa0ba902b7");
    assert_eq!(server.service, "orator-api");
    assert_eq!(server.attr("http.route"), Some("/v1/jobs"));
    assert_eq!(server.attr("http.request.method"), Some("POST"));
    assert_eq!(server.attr("http.response.status_code"), Some("202"));
    assert_eq!(server.attr("url.path"), Some("/v1/jobs"));

    let insert = find(&spans, |s| {
        s.name == "INSERT jobs" && s.parent_span_id == server.span_id
    })
    .expect("db span under the request");
    assert_eq!(insert.kind, SpanKind::Client);
    assert_eq!(insert.attr("db.system.name"), Some("postgresql"));
    assert_eq!(insert.attr("db.operation.name"), Some("INSERT"));
    assert_eq!(insert.attr("db.collection.name"), Some("jobs"));

    let publish = find(&spans, |s| s.kind == SpanKind::Producer && s.trace_id == incoming_trace).expect("publish span");
    assert_eq!(
        publish.parent_span_id, server.span_id,
        "the relay's publish continues the request"
    );
    assert_eq!(publish.attr("messaging.system"), Some("rabbitmq"));
    assert!(publish.attr("messaging.destination.name").unwrap().ends_with("tts"));

    let process = find(&spans, |s| s.kind == SpanKind::Consumer).expect("consumer span");
    assert_eq!(process.service, "orator-worker");
    assert_eq!(process.attr("messaging.system"), Some("rabbitmq"));
    if link_mode {
        assert_ne!(process.trace_id, incoming_trace, "link mode starts a new trace");
        assert!(
            process.parent_span_id.is_empty(),
            "link mode: the consumer span is a root"
        );
        assert_eq!(process.links, vec![(publish.trace_id.clone(), publish.span_id.clone())]);
    } else {
        assert_eq!(process.trace_id, incoming_trace, "one trace across the queue");
        assert_eq!(process.parent_span_id, publish.span_id);
    }

    let under_process = |name: &str| {
        find(&spans, |s| {
            s.name.starts_with(name) && s.parent_span_id == process.span_id
        })
        .unwrap_or_else(|| panic!("{name} span under the consumer span"))
    };
    let synth = under_process("synthesize");
    assert_eq!(synth.attr("orator.engine"), Some("espeak-ng"));
    assert_eq!(synth.attr("orator.voice"), Some("en-us+f2"));
    assert_eq!(
        synth.attr("orator.characters"),
        Some(SECRET_TEXT.chars().count().to_string().as_str())
    );
    assert!(synth.attr("orator.audio_seconds").unwrap().parse::<f64>().unwrap() > 1.0);
    assert_eq!(under_process("encode").attr("orator.format"), Some("opus"));
    let store = under_process("store");
    assert!(
        find(&spans, |s| s.name == "INSERT audio"
            && s.parent_span_id == store.span_id)
        .is_some()
    );
    assert!(
        find(&spans, |s| s.name == "UPDATE jobs"
            && s.parent_span_id == process.span_id)
        .is_some(),
        "claim"
    );

    // Never the text, never parameter values.
    for span in &spans {
        for (k, v) in &span.attributes {
            assert!(
                !v.contains("purple elephant"),
                "{} carries the input text in {k}",
                span.name
            );
        }
    }
}

#[tokio::test]
async fn one_trace_runs_from_the_request_across_the_queue_to_the_stored_audio() {
    job_trace(false).await;
}

#[tokio::test]
async fn link_mode_starts_a_new_trace_linked_to_the_publish() {
    job_trace(true).await;
}

#[tokio::test]
async fn failures_set_the_span_status_and_record_the_exception() {
    let receiver = Receiver::start().await;
    let env = TestEnv::new().await;
    let endpoint = format!("http://{}", receiver.grpc);
    let otel = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let api = env.api(&otel).await;
    let broken = env.espeak_wrapper("broken", "echo 'no such voice data' >&2; exit 1");
    let mut worker_env = otel.to_vec();
    worker_env.extend([("ORATOR_ESPEAK_BINARY", broken.as_str()), ("ORATOR_MAX_ATTEMPTS", "1")]);
    let _worker = env.worker(&worker_env).await;
    let job = api
        .create_job(json!({"model": "tts-1", "input": "Doomed.", "voice": "alloy"}))
        .await;
    api.wait_for_status(job["id"].as_str().unwrap(), "failed", Duration::from_secs(20))
        .await;
    let spans = eventually("the failing synthesis span", Duration::from_secs(15), || async {
        let spans = receiver.spans.all();
        let synthesized = spans.iter().any(|s| s.name.starts_with("synthesize"));
        (synthesized && spans.iter().any(|s| s.kind == SpanKind::Consumer)).then_some(spans)
    })
    .await;
    let synth = find(&spans, |s| s.name == "synthesize espeak-ng").unwrap();
    assert_eq!(synth.status, 2, "error status on the failed synthesis");
    assert!(
        synth.events.iter().any(|e| e == "exception" || e.contains("fail")),
        "{:?}",
        synth.events
    );
    let process = find(&spans, |s| s.kind == SpanKind::Consumer).unwrap();
    assert_eq!(process.status, 2, "error status on the consumer span");
}

#[tokio::test]
async fn every_log_line_is_json_and_lines_inside_a_request_carry_its_trace() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_ADMIN_API_KEY", ADMIN)]).await;
    let worker = env.worker(&[]).await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let response = api
        .request(Method::POST, "/v1/audio/speech")
        .header("traceparent", format!("00-{trace}-b7ad6b7169203331-01"))
        .header("x-request-id", "req-from-client-1")
        .json(&json!({"model": "tts-1", "input": SECRET_TEXT, "voice": "sage"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-from-client-1");
    response.bytes().await.unwrap();
    // Again: a cache hit, whose size is known when its headers go out.
    api.request(Method::POST, "/v1/audio/speech")
        .header("x-request-id", "req-from-client-2")
        .json(&json!({"model": "tts-1", "input": SECRET_TEXT, "voice": "sage"}))
        .send()
        .await
        .unwrap();
    let _ = api
        .http
        .get(api.url("/v1/models"))
        .bearer_auth("ork_not_a_key")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut request_lines = 0;
    for (name, logs) in [("api", api.service.logs()), ("worker", worker.logs())] {
        assert!(!logs.is_empty());
        for line in &logs {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {line}"));
            for field in ["timestamp", "level", "message", "target", "service"] {
                assert!(v.get(field).is_some(), "{name}: no {field}: {line}");
            }
            assert!(
                !line.contains("purple elephant"),
                "{name} logged the input text: {line}"
            );
            assert!(
                !line.contains("ork_not_a_key") && !line.contains(&api.key),
                "{name} logged a key: {line}"
            );
            if v["request_id"] == "req-from-client-1" {
                request_lines += 1;
                assert_eq!(
                    v["trace_id"], trace,
                    "{name}: a line of the request without its trace: {line}"
                );
                assert!(v["span_id"].is_string());
            }
        }
    }
    assert!(request_lines >= 1, "no log line carried the request id");
    let access = api
        .service
        .logs()
        .into_iter()
        .find(|l| l.contains("request completed") && l.contains("req-from-client-1"))
        .unwrap();
    let access: Value = serde_json::from_str(&access).unwrap();
    assert_eq!(access["route"], "/v1/audio/speech");
    assert_eq!(access["status"], 200);
    assert!(access["duration_ms"].as_f64().unwrap() > 0.0);
    // A streamed answer is logged when its headers go out, before its length is known.
    assert!(access.get("bytes").is_none(), "{access}");
    let hit = api
        .service
        .logs()
        .into_iter()
        .find(|l| l.contains("request completed") && l.contains("req-from-client-2"))
        .unwrap();
    assert!(serde_json::from_str::<Value>(&hit).unwrap()["bytes"].as_u64().unwrap() > 1000);
    // The worker's lines for that job continue the same trace.
    let worker_done = worker
        .logs()
        .into_iter()
        .find(|l| l.contains("job succeeded"))
        .expect("worker log");
    assert_eq!(serde_json::from_str::<Value>(&worker_done).unwrap()["trace_id"], trace);
}

#[tokio::test]
async fn a_thousand_unknown_paths_add_no_series() {
    let env = TestEnv::new().await;
    // A thousand at once open a thousand connections, which reqwest then keeps idle.
    let api = env.api(&[("ORATOR_MAX_CONNECTIONS", "2000")]).await;
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("http_server_request_duration_seconds_count"))
            .count()
    };
    let _ = api.http.get(api.url("/warm-up")).send().await.unwrap();
    let before = series(&metrics_of(&api.service.url()).await);
    let requests = (0..1000).map(|i| {
        let url = api.url(&format!("/random/{}/{i}", uuid::Uuid::new_v4()));
        let http = api.http.clone();
        async move { http.get(url).send().await.map(|r| r.status()) }
    });
    for status in futures::future::join_all(requests).await {
        assert_eq!(status.unwrap(), 404);
    }
    let exposition = metrics_of(&api.service.url()).await;
    assert_eq!(series(&exposition), before, "unknown paths created series");
    let unmatched = exposition
        .lines()
        .find(|l| l.starts_with("http_server_request_duration_seconds_count") && l.contains("http_route=\"unmatched\""))
        .expect("one unmatched series");
    assert!(unmatched.ends_with(" 1001"), "{unmatched}");
    assert!(!exposition.contains("/random/"), "a raw path leaked into a label");
}

#[tokio::test]
async fn the_summary_reports_engine_cache_queues_jobs_and_requests() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let body = json!({"model": "tts-1", "input": "Summarise me.", "voice": "ash"});
    api.speech(body.clone()).await.bytes().await.unwrap();
    api.speech(body).await.bytes().await.unwrap();
    let summary: Value = orator_e2e::json(api.http.get(api.url("/monitoring/summary"))).await;
    assert_eq!(summary["engines"][0]["name"], "espeak-ng");
    assert!(summary["engines"][0]["voices"].as_u64().unwrap() > 100, "{summary}");
    assert_eq!(summary["cache"]["hits"], 1.0);
    assert_eq!(summary["cache"]["misses"], 1.0);
    assert_eq!(summary["cache"]["hit_ratio"], 0.5);
    assert_eq!(summary["jobs"]["succeeded"], 1);
    let queues = summary["queues"].as_array().expect("queue stats");
    assert_eq!(queues.len(), 3);
    assert_eq!(queues[0]["consumers"], 1);
    assert!(summary["requests"]["total"].as_f64().unwrap() >= 2.0);
    assert!(summary["uptime_seconds"].is_u64());
}

#[tokio::test]
async fn without_a_collector_the_service_says_so_once_counts_every_failure_and_stops_quickly() {
    let env = TestEnv::new().await;
    // Nothing listens there; the default filter, as a user's first run has it.
    let nowhere = format!("http://127.0.0.1:{}", orator_e2e::monitoring::free_port());
    let api = env
        .api(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", nowhere.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ("RUST_LOG", orator_telemetry::logging::DEFAULT_FILTER),
        ])
        .await;
    let url = api.service.url();
    for _ in 0..5 {
        reqwest::get(format!("{url}/v1/models")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eventually("several failed exports", Duration::from_secs(10), || async {
        (orator_e2e::metric(&url, "otel_export_failures_total", &[]).await >= 3.0).then_some(())
    })
    .await;
    let logs = api.service.logs();
    let warnings = logs.iter().filter(|l| l.contains("trace export failed")).count();
    assert_eq!(warnings, 1, "one warning, not one per batch");
    assert!(
        !logs.iter().any(|l| l.contains("ExportError")),
        "the SDK's own error lines are not shown"
    );

    let mut service = api.service;
    let stopping = std::time::Instant::now();
    service.terminate();
    service.wait(Duration::from_secs(10)).await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "shutdown took {:?} without a collector",
        stopping.elapsed()
    );
}
