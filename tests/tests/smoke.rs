//! `orator-smoke`, the black-box harness for any deployment, against processes started here:
//! it passes against a working Orator and names what is broken in a broken one.

use orator_e2e::{TestEnv, process::bin_dir};

/// Runs `orator-smoke` against `url`; its exit success and its report.
async fn smoke(url: &str, key: &str, extra: &[&str]) -> (bool, String) {
    let output = tokio::process::Command::new(bin_dir().join("orator-smoke"))
        .args(["--url", url, "--key", key])
        .args(extra)
        .output()
        .await
        .expect("orator-smoke runs (cargo build --bins builds it)");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{report}");
    (output.status.success(), report)
}

#[tokio::test]
async fn the_smoke_harness_passes_against_a_working_orator() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let _worker = env.worker(&[]).await;
    let (passed, report) = smoke(&api.service.url(), &api.key, &[]).await;
    assert!(passed, "{report}");
    for check in [
        "health",
        "OpenAI contract",
        "traceparent",
        "speech decodes: aac",
        "async job",
        "errors",
        "/metrics",
    ] {
        assert!(
            report.lines().any(|l| l.starts_with("ok ") && l.contains(check)),
            "no passing {check:?} line:\n{report}"
        );
    }
    assert!(report.contains("all checks passed"));
}

#[tokio::test]
async fn the_smoke_harness_fails_clearly_when_no_worker_serves() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_SYNC_TIMEOUT_MS", "1000")]).await;
    let (passed, report) = smoke(&api.service.url(), &api.key, &["--job-timeout-secs", "2"]).await;
    assert!(!passed, "{report}");
    assert!(report.contains("FAIL  speech decodes: mp3: 504"), "{report}");
    assert!(report.contains("FAIL  an async job completes"), "{report}");
    // What does not need a worker still passes.
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("ok ") && l.contains("errors have the documented shape")),
        "{report}"
    );
    let (passed, report) = smoke(&api.service.url(), "ork_wrong", &["--job-timeout-secs", "2"]).await;
    assert!(!passed);
    assert!(
        report.contains("FAIL  OpenAI contract: models and voices: 401"),
        "{report}"
    );
}
