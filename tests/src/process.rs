//! Running `orator-api` and `orator-worker` as real processes, with their logs captured.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
};

/// Where cargo put the binaries: next to the test executable's `deps/` folder.
/// `ORATOR_BIN_DIR` overrides it.
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ORATOR_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>")
        .to_path_buf()
}

/// A running binary.
pub struct Service {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    addr: SocketAddr,
}

fn capture(stream: impl AsyncRead + Unpin + Send + 'static, name: String, lines: Arc<Mutex<Vec<String>>>) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            // Echoed so a failing test shows what the service said.
            eprintln!("[{name}] {line}");
            lines.lock().unwrap().push(line);
        }
    });
}

impl Service {
    /// Starts `binary` with `env` and waits until it logs the address it listens on.
    pub async fn spawn(binary: &str, name: &str, env: &[(String, String)]) -> Self {
        Self::spawn_path(&bin_dir().join(binary), name, env).await
    }

    /// Like [`Service::spawn`], for a binary anywhere (a generated service's).
    pub async fn spawn_path(path: &std::path::Path, name: &str, env: &[(String, String)]) -> Self {
        assert!(
            path.exists(),
            "{} is missing: build the binaries first (cargo build --bins), as scripts/test.sh does",
            path.display()
        );
        let mut command = Command::new(path);
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("ORATOR_")
                || k.starts_with("OTEL_")
                || ["DATABASE_URL", "REDIS_URL", "AMQP_URL"].contains(&k.as_str())
            {
                command.env_remove(k);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k, v)));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        capture(child.stdout.take().unwrap(), name.to_owned(), lines.clone());
        capture(child.stderr.take().unwrap(), format!("{name}:stderr"), lines.clone());

        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let found = lines.lock().unwrap().iter().find_map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).ok()?;
                (v["message"] == "listening").then(|| v["addr"].as_str()?.parse().ok())?
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited with {status} before listening");
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{name} did not start listening within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Self {
            name: name.to_owned(),
            child,
            lines,
            addr,
        }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until `/health/ready` answers 200 (a worker loads its models after it listens).
    pub async fn wait_ready(&self, timeout: Duration) {
        let url = format!("{}/health/ready", self.url());
        crate::eventually(&format!("{} to be ready", self.name), timeout, || async {
            let ready = reqwest::get(&url).await.ok()?;
            (ready.status() == 200).then_some(())
        })
        .await;
    }

    /// Every line printed so far (stdout and stderr).
    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// True when some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.lines.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    fn signal(&self, signal: i32) {
        let pid = self.child.id().expect("process still running") as i32;
        // SAFETY: sending a signal to our own child by pid.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let pid = self.child.id().expect("process still running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM line");
        kb * 1024
    }

    /// SIGKILL: the process dies at once, mid-work.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    /// SIGTERM: the process shuts down gracefully.
    pub fn terminate(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.expect("wait"),
            Err(_) => panic!("{} did not exit within {timeout:?}", self.name),
        }
    }
}
