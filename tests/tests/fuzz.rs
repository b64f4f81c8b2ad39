//! The served OpenAPI document against the running service, fuzzed by schemathesis with
//! every check (status codes and bodies as documented, no 5xx, positive data accepted,
//! negative data rejected, stateful links create → get/cancel/delete/audio). CI runs a short
//! budget; `scripts/fuzz-api.sh` runs a long one.

use std::time::Duration;

use orator_e2e::TestEnv;

#[tokio::test]
async fn schemathesis_finds_no_failure_in_the_served_document() {
    let env = TestEnv::new().await;
    // Rate limits and admission would answer 429/503 to a fuzzer's burst: documented, but
    // they hide what the fuzzer is there to find.
    let api = env
        .api(&[("ORATOR_RATE_LIMIT", "1000000"), ("ORATOR_SYNC_TIMEOUT_MS", "10000")])
        .await;
    let _worker = env.worker(&[]).await;
    let seconds = std::env::var("ORATOR_FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
    let python = std::env::var("ORATOR_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let st = std::path::Path::new(&python).with_file_name("st");
    assert!(
        st.exists(),
        "{} is missing: scripts/setup.sh installs schemathesis",
        st.display()
    );
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/schemathesis.toml");
    let run = tokio::process::Command::new(&st)
        .args(["--config-file", config])
        .arg("run")
        .arg(api.url("/openapi.json"))
        .args(["-H", &format!("Authorization: Bearer {}", api.key)])
        .args(["--checks", "all", "--workers", "2", "--suppress-health-check", "all"])
        .args(["--max-time", &seconds])
        // Admin routes change the service's own faults and need the admin key.
        .args(["--exclude-path-regex", "^/admin"])
        .args(["--request-timeout", "15"])
        .env("NO_COLOR", "1")
        // Its cache directory (.schemathesis) goes there, not into the source tree.
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true)
        .output();
    let budget = Duration::from_secs(seconds.parse::<u64>().unwrap_or(60) * 3 + 120);
    let output = tokio::time::timeout(budget, run)
        .await
        .expect("schemathesis finished within its budget")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // The summary, for the record (visible with --no-capture).
    println!(
        "{}",
        stdout
            .lines()
            .skip_while(|l| !l.contains("SUMMARY"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // It really exercised the API: the summary counts test cases.
    assert!(
        stdout.contains("test cases") || stdout.contains("Test cases"),
        "{stdout}"
    );
}
