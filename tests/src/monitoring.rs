//! Real Prometheus and Alertmanager (Debian's packages) for the live monitoring tests, run
//! with the repository's own rule and routing files through a test-only overlay that
//! shortens `for:` durations and intervals (the expressions stay as written).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::{catalogue::repo_root, eventually};

/// A free loopback port (bound and released: a small race, fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A daemon started for one test, killed when dropped.
pub struct Daemon {
    _child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Daemon {
    async fn start(binary: &str, args: Vec<String>, addr: SocketAddr, dir: PathBuf) -> Self {
        let log = std::fs::File::create(dir.join(format!("{binary}.log"))).unwrap();
        let child = Command::new(binary)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} (scripts/setup.sh installs it): {e}"));
        let ready = format!("http://{addr}/-/ready");
        eventually(&format!("{binary} to be ready"), Duration::from_secs(30), || async {
            let ok = reqwest::get(&ready).await.is_ok_and(|r| r.status().is_success());
            ok.then_some(())
        })
        .await;
        Self {
            _child: child,
            addr,
            dir,
        }
    }

    /// Its stderr so far (for failure messages).
    pub fn log(&self, binary: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{binary}.log"))).unwrap_or_default()
    }
}

/// Rewrites every `for:` in a rules file to `for: 1s`.
pub fn shorten_for(rules: &str) -> String {
    rules
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if let Some(rest) = trimmed.strip_prefix("for:") {
                let indent = &line[..line.len() - trimmed.len()];
                let comment = rest.find('#').map(|i| &rest[i..]).unwrap_or("");
                format!("{indent}for: 1s {comment}").trim_end().to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts Prometheus scraping the given `(job, target, bearer token)` triples every second,
/// with the repository's rules (shortened `for:`) evaluated every second, alerting
/// `alertmanager`.
pub async fn prometheus(dir: &Path, targets: &[(&str, SocketAddr, Option<&str>)], alertmanager: SocketAddr) -> Daemon {
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    for entry in std::fs::read_dir(repo_root().join("monitoring/prometheus/rules")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(rules_dir.join(path.file_name().unwrap()), shorten_for(&text)).unwrap();
        }
    }
    let mut config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\nrule_files:\n  - '{}/*.yml'\nscrape_configs:\n",
        rules_dir.display()
    );
    for (job, target, token) in targets {
        config.push_str(&format!(
            "  - job_name: '{job}'\n    static_configs:\n      - targets: ['{target}']\n"
        ));
        if let Some(token) = token {
            config.push_str(&format!("    authorization:\n      credentials: '{token}'\n"));
        }
    }
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args = vec![
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("tsdb").display()),
        format!("--web.listen-address={addr}"),
    ];
    Daemon::start("prometheus", args, addr, dir.to_path_buf()).await
}

/// Starts Alertmanager with the repository's configuration, its webhook pointed at
/// `api` with `token`, and grouping timings shortened.
pub async fn alertmanager(dir: &Path, api: &str, token: &str) -> Daemon {
    let repo = repo_root().join("monitoring/alertmanager");
    let token_file = dir.join("webhook-token");
    std::fs::write(&token_file, token).unwrap();
    let original = std::fs::read_to_string(repo.join("alertmanager.yml")).unwrap();
    let overlay: String = original
        .replace("http://api:8000", api)
        .replace(
            "/etc/alertmanager/secrets/webhook-token",
            &token_file.display().to_string(),
        )
        .replace(
            "/etc/alertmanager/templates",
            &repo.join("templates").display().to_string(),
        )
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if trimmed.starts_with("group_wait:") {
                format!("{indent}group_wait: 1s")
            } else if trimmed.starts_with("group_interval:") {
                format!("{indent}group_interval: 1s")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("alertmanager.yml"), overlay).unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let args = vec![
        format!("--config.file={}", dir.join("alertmanager.yml").display()),
        format!("--storage.path={}", dir.join("am").display()),
        format!("--web.listen-address={addr}"),
        "--cluster.listen-address=".to_owned(),
    ];
    Daemon::start("prometheus-alertmanager", args, addr, dir.to_path_buf()).await
}

/// Runs an instant query; returns the result vector.
pub async fn query(prometheus: SocketAddr, expr: &str) -> Vec<Value> {
    let url = format!("http://{prometheus}/api/v1/query");
    let body: Value = reqwest::Client::new()
        .get(&url)
        .query(&[("query", expr)])
        .send()
        .await
        .expect("prometheus query")
        .json()
        .await
        .expect("prometheus JSON");
    assert_eq!(body["status"], "success", "query {expr}: {body}");
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}
