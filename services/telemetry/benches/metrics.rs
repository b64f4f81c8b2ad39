//! `/metrics` hot paths with Orator's recorder configuration: rendering an exposition of
//! about 5,000 series (goal: under 5 ms, so a 15 s scrape costs the service < 0.05 % of a
//! core) and recording one request's histogram sample.
//!
//! Run: `cargo bench -p orator-telemetry --bench metrics`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use metrics_exporter_prometheus::PrometheusHandle;
use orator_telemetry::http::REQUEST_DURATION;

const ROUTES: usize = 25;
const STATUSES: [&str; 10] = ["200", "201", "202", "204", "400", "401", "404", "409", "429", "500"];
const FORMATS: [&str; 5] = ["mp3", "opus", "flac", "wav", "pcm"];

/// Installs the recorder exactly as the binaries do and fills it with a realistic shape:
/// 250 request-duration histograms (14 buckets + `+Inf` + `_sum` + `_count` = 17 series
/// each, 4,250 in all), 500 labelled counters and 250 gauges: 5,000 series.
fn populated() -> PrometheusHandle {
    let handle = orator_telemetry::metrics::install(&[]).expect("install the recorder");
    for route in 0..ROUTES {
        for status in STATUSES {
            let labels = [
                ("http_request_method", "POST".to_owned()),
                ("http_route", format!("/v1/route/{route}")),
                ("http_response_status_code", status.to_owned()),
            ];
            let h = metrics::histogram!(REQUEST_DURATION, &labels);
            for ms in [0.4, 2.0, 7.0, 30.0, 120.0, 900.0] {
                h.record(ms / 1000.0);
            }
        }
        for format in FORMATS {
            for mode in ["sync", "async"] {
                for outcome in ["succeeded", "failed"] {
                    metrics::counter!("orator_speech_requests_total",
                        "voice" => format!("voice{route}"), "format" => format, "mode" => mode, "outcome" => outcome)
                    .increment(3);
                }
            }
        }
        for method in 0..10 {
            metrics::gauge!("http_server_active_requests",
                "http_request_method" => format!("M{method}"), "http_route" => format!("/v1/route/{route}"))
            .set(1.0);
        }
    }
    handle
}

fn series(exposition: &str) -> usize {
    exposition
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn benches(c: &mut Criterion) {
    // The recorder's upkeep task needs a Tokio runtime, as in the binaries.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _entered = runtime.enter();
    let handle = populated();
    let n = series(&handle.render());
    assert!(
        (4_900..=5_100).contains(&n),
        "expected about 5,000 series, rendered {n}"
    );
    eprintln!("metrics: rendering {n} series");

    c.bench_function("metrics/render_5000_series", |b| b.iter(|| black_box(handle.render())));

    let labels = [
        ("http_request_method", "GET".to_owned()),
        ("http_route", "/v1/route/3".to_owned()),
        ("http_response_status_code", "200".to_owned()),
    ];
    c.bench_function("metrics/record_request_duration", |b| {
        b.iter(|| metrics::histogram!(REQUEST_DURATION, black_box(&labels)).record(black_box(0.0042)))
    });
}

criterion_group!(metrics_benches, benches);
criterion_main!(metrics_benches);
