//! Harness for Orator's end-to-end tests: each test gets its own database, queue prefix
//! and Redis prefix, reaches every server through a TCP proxy it can cut, and runs the
//! real `orator-api` and `orator-worker` binaries.

pub mod audio;
pub mod catalogue;
pub mod env;
pub mod monitoring;
pub mod otlp;
pub mod process;
pub mod proxy;
pub mod scenario;

pub use env::{Api, TestEnv};
pub use process::Service;
pub use proxy::TcpProxy;

/// Polls `probe` every 50 ms until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sends `request` and reads the answer as JSON, whatever its status.
pub async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("a JSON body")
}

/// Sum of every series of `family` on `url`'s `/metrics` whose line contains all of `having`.
pub async fn metric(url: &str, family: &str, having: &[&str]) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("metrics scraped")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(family) && having.iter().all(|h| l.contains(h)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
