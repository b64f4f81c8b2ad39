//! The service template: generate a new service with `scripts/new-service.sh`, build it,
//! start it, and hold it to the contract Orator's own binaries keep (the catalogue equals
//! `/metrics`, a trace reaches an OTLP receiver, every log line is JSON and carries the
//! request's trace), then run the generated project's own static checks.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use orator_e2e::{
    catalogue::{Catalogue, promtool_check, repo_root},
    eventually,
    otlp::Receiver,
    process::Service,
};
use serde_json::Value;

const NAME: &str = "acme-greeter";

fn run(what: &str, command: &mut Command) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

/// Every file of `dir` whose text mentions Orator, outside what is Orator's by design: the
/// files copied unchanged (the telemetry crate, the lock file, the SLO generator, whose
/// documentation shows Orator's values), the crate's name, the README's credit.
fn mentions_of_orator(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().to_path_buf();
            if rel.starts_with("target") || rel.starts_with("services/telemetry") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if !["Cargo.lock", "Cargo.toml", "README.md", "monitoring/prometheus/slo.py"]
                .contains(&rel.to_str().unwrap())
                && std::fs::read_to_string(&path).is_ok_and(|t| {
                    let t = t
                        .to_lowercase()
                        .replace("orator-telemetry", "")
                        .replace("orator_telemetry", "");
                    t.contains("orator")
                })
            {
                found.push(rel);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_generated_service_builds_starts_and_keeps_the_telemetry_contract() {
    let root = repo_root();
    let tmp = std::env::temp_dir().join(format!("orator-template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let dest = tmp.join(NAME);

    // A name that cannot be a crate, a metric namespace and a label is refused.
    let refused = Command::new(root.join("scripts/new-service.sh"))
        .args(["Acme Greeter!", tmp.join("bad").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("a service name is"));

    run(
        "scripts/new-service.sh",
        Command::new(root.join("scripts/new-service.sh")).args([NAME, dest.to_str().unwrap()]),
    );
    let stray = mentions_of_orator(&dest);
    assert!(stray.is_empty(), "generated files still name Orator: {stray:?}");
    let alerts = std::fs::read_to_string(dest.join("monitoring/prometheus/rules/slo-alerts.yml")).unwrap();
    assert!(alerts.contains("alert: AcmeGreeter"), "alert names follow the service");
    let kustomization = std::fs::read_to_string(dest.join("k8s/base/kustomization.yaml")).unwrap();
    assert!(kustomization.contains("app.kubernetes.io/name: acme-greeter"));

    // Its own target directory under Orator's, kept between runs: the first build compiles
    // the dependencies (the generated workspace unifies fewer features than Orator's), later
    // ones only the two crates. Offline: every crate is in Orator's lock file, so in cargo's
    // cache already.
    let target = root.join("target/template");
    let cargo = |args: &[&str]| {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.args(args)
            .arg("--offline")
            .current_dir(&dest)
            .env("CARGO_TARGET_DIR", &target);
        c
    };
    run("cargo build (generated)", &mut cargo(&["build", "--locked"]));
    run("cargo test (generated)", &mut cargo(&["test", "--locked", "--quiet"]));

    let receiver = Receiver::start().await;
    let env = [
        ("ACME_GREETER_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{}", receiver.grpc)),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let service = Service::spawn_path(&target.join("debug").join(NAME), NAME, &env).await;
    service.wait_ready(Duration::from_secs(20)).await;
    let http = reqwest::Client::new();
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let response = http
        .get(format!("{}/v1/greetings/Ada", service.url()))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .header("x-request-id", "template-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let returned = response.headers()["traceparent"].to_str().unwrap().to_owned();
    assert!(returned.starts_with(&format!("00-{trace}-")), "{returned}");
    assert_eq!(response.json::<Value>().await.unwrap()["greeting"], "Hello, Ada!");
    let bad = http
        .get(format!("{}/v1/greetings/{}", service.url(), "a".repeat(65)))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"]["code"], "invalid_name");
    let unknown = http.get(format!("{}/nowhere", service.url())).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    // A request with a body, so the request-size family (recorded from Content-Length) exists.
    let wrong_method = http
        .post(format!("{}/v1/greetings/Ada", service.url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);

    // The trace reached the receiver under the service's name.
    let spans = eventually("the service's span to arrive", Duration::from_secs(15), || async {
        let spans = receiver.spans.all();
        spans
            .iter()
            .any(|s| s.trace_id == trace && s.name == "GET /v1/greetings/{name}")
            .then_some(spans)
    })
    .await;
    let server = spans
        .iter()
        .find(|s| s.trace_id == trace && s.name == "GET /v1/greetings/{name}")
        .unwrap();
    assert_eq!(server.service, NAME);
    assert_eq!(server.parent_span_id, "00f067aa0ba902b7");

    // The catalogue the generator wrote is exactly what /metrics exposes.
    let exposition = http
        .get(format!("{}/metrics", service.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    promtool_check(&exposition, NAME);
    let catalogue = Catalogue::from_path(&dest.join("monitoring/metrics.yaml"));
    catalogue.assert_exposed_exactly(NAME, &exposition);
    assert!(exposition.contains("acme_greeter_build_info{"), "namespaced build info");
    assert!(exposition.contains(r#"acme_greeter_greetings_total{outcome="rejected"} 1"#));

    // Every log line is JSON; the request's lines carry its trace.
    let logs = service.logs();
    let mut in_request = 0;
    for line in &logs {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "message", "target", "service"] {
            assert!(v.get(field).is_some(), "no {field}: {line}");
        }
        if v["request_id"] == "template-req-1" {
            in_request += 1;
            assert_eq!(v["trace_id"], trace, "{line}");
        }
    }
    assert!(in_request >= 2, "the route's line and the access line: {logs:?}");
    drop(service);

    // The generated project's own static checks: promtool test rules, dashboards, compose,
    // kustomize. Orator's venv and npm prefix already hold the tools they need.
    run(
        "scripts/check.sh (generated)",
        Command::new(dest.join("scripts/check.sh"))
            .env("VENV", root.join(".venv"))
            .env("TOOLS_DIR", root.join(".tools")),
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
