//! `orator-smoke`: the black-box checks of the end-to-end suite, against any running Orator.
//!
//! ```sh
//! orator-smoke --url http://orator:8000 --key KEY [--worker-url http://worker:8001]
//!              [--prometheus http://prometheus:9090] [--alertmanager http://alertmanager:9093]
//! ```
//!
//! Prints one line per check (`ok` or `FAIL` with the reason) and exits 1 if any failed.

use std::time::{Duration, Instant};

use clap::Parser;
use orator_e2e::{audio, catalogue::exposed_families};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// Smoke-tests a running Orator from the outside.
#[derive(Parser)]
struct Args {
    /// The api's base URL.
    #[arg(long, env = "ORATOR_SMOKE_URL")]
    url: String,
    /// An API key.
    #[arg(long, env = "ORATOR_SMOKE_KEY")]
    key: String,
    /// Bearer token for /metrics, when it is protected (ORATOR_METRICS_TOKEN).
    #[arg(long, env = "ORATOR_SMOKE_METRICS_TOKEN")]
    metrics_token: Option<String>,
    /// A file holding that token (a mounted secret).
    #[arg(long, env = "ORATOR_SMOKE_METRICS_TOKEN_FILE", conflicts_with = "metrics_token")]
    metrics_token_file: Option<std::path::PathBuf>,
    /// Prometheus base URL: adds "targets are up".
    #[arg(long, env = "ORATOR_SMOKE_PROMETHEUS")]
    prometheus: Option<String>,
    /// Alertmanager base URL: adds "no alert fires".
    #[arg(long, env = "ORATOR_SMOKE_ALERTMANAGER")]
    alertmanager: Option<String>,
    /// How long an async job may take.
    #[arg(long, default_value = "60")]
    job_timeout_secs: u64,
}

type Outcome = Result<String, String>;

struct Smoke {
    http: Client,
    args: Args,
    failed: usize,
}

impl Smoke {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.args.url.trim_end_matches('/'))
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(&self.args.key)
    }

    fn report(&mut self, name: &str, started: Instant, outcome: Outcome) {
        match outcome {
            Ok(detail) => println!("ok    {name} ({detail}; {} ms)", started.elapsed().as_millis()),
            Err(reason) => {
                self.failed += 1;
                println!("FAIL  {name}: {reason}");
            }
        }
    }

    async fn json(&self, request: reqwest::RequestBuilder) -> Result<(StatusCode, Value), String> {
        let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
        let status = response.status();
        let body = response.json().await.map_err(|e| format!("{status}, not JSON: {e}"))?;
        Ok((status, body))
    }

    async fn ready(&self) -> Outcome {
        let response = self
            .http
            .get(self.url("/health/ready"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("/health/ready answered {}", response.status()));
        }
        let (_, health) = self.json(self.http.get(self.url("/health"))).await?;
        let checks = health["checks"].as_array().ok_or("/health lists no checks")?;
        let summary: Vec<String> = checks
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    c["name"].as_str().unwrap_or("?"),
                    c["status"].as_str().unwrap_or("?")
                )
            })
            .collect();
        Ok(summary.join(", "))
    }

    async fn models(&self) -> Outcome {
        let (status, models) = self.json(self.request(Method::GET, "/v1/models")).await?;
        let ids: Vec<&str> = models["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str())
            .collect();
        if status != StatusCode::OK || models["object"] != "list" || !ids.contains(&"tts-1") {
            return Err(format!("{status}: {models}"));
        }
        let (_, voices) = self.json(self.request(Method::GET, "/v1/audio/voices")).await?;
        let count = voices["data"].as_array().map_or(0, Vec::len);
        if count == 0 {
            return Err(format!("no voices: {voices}"));
        }
        Ok(format!("models {}, {count} voices", ids.join(" ")))
    }

    async fn traceparent(&self) -> Outcome {
        let response = self
            .request(Method::GET, "/v1/models")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let header = response.headers().get("traceparent").ok_or("no traceparent header")?;
        let value = header.to_str().map_err(|e| e.to_string())?;
        (value.split('-').count() == 4)
            .then(|| value.to_owned())
            .ok_or(format!("malformed traceparent {value:?}"))
    }

    async fn speech(&self, format: &str) -> Outcome {
        // A new text each run, so the engine speaks it rather than the cache.
        let text = format!("Smoke test {}, in {format}.", uuid::Uuid::new_v4().simple());
        let body = json!({"model": "tts-1", "input": text, "voice": "alloy", "response_format": format});
        let response = self
            .request(Method::POST, "/v1/audio/speech")
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let rate = response
            .headers()
            .get("x-sample-rate")
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        let bytes = response.bytes().await.map_err(|e| format!("body cut short: {e}"))?;
        if status != StatusCode::OK {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        decodes(format, &bytes, rate)
    }

    async fn job(&self) -> Outcome {
        let body = json!({"model": "tts-1", "input": format!("An async smoke job {}.", uuid::Uuid::new_v4().simple()), "voice": "nova", "response_format": "wav"});
        let (status, job) = self.json(self.request(Method::POST, "/v1/jobs").json(&body)).await?;
        let id = job["id"]
            .as_str()
            .filter(|_| status == StatusCode::ACCEPTED)
            .ok_or(format!("{status}: {job}"))?;
        let until = Instant::now() + Duration::from_secs(self.args.job_timeout_secs);
        loop {
            let (_, job) = self.json(self.request(Method::GET, &format!("/v1/jobs/{id}"))).await?;
            match job["status"].as_str() {
                Some("succeeded") => break,
                Some("queued" | "running") if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                _ => return Err(format!("job {id}: {job}")),
            }
        }
        let audio = self
            .request(Method::GET, &format!("/v1/jobs/{id}/audio"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let bytes = audio.bytes().await.map_err(|e| e.to_string())?;
        decodes("wav", &bytes, 0).map(|d| format!("job {id}, {d}"))
    }

    async fn errors(&self) -> Outcome {
        let bad_voice = json!({"model": "tts-1", "input": "x", "voice": "no-such-voice"});
        let (status, body) = self
            .json(self.request(Method::POST, "/v1/audio/speech").json(&bad_voice))
            .await?;
        let error = &body["error"];
        if status != StatusCode::BAD_REQUEST
            || error["param"] != "voice"
            || !error["message"].is_string()
            || !error["type"].is_string()
        {
            return Err(format!("unknown voice: {status} {body}"));
        }
        let wrong_key = self.http.get(self.url("/v1/models")).bearer_auth("ork_not_a_key");
        let (status, body) = self.json(wrong_key).await?;
        if status != StatusCode::UNAUTHORIZED || body["error"]["type"] != "authentication_error" {
            return Err(format!("wrong key: {status} {body}"));
        }
        Ok("400 naming the param, 401 for a wrong key, OpenAI's error shape".into())
    }

    async fn metrics(&self) -> Outcome {
        let mut request = self.http.get(self.url("/metrics"));
        let token = match &self.args.metrics_token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => self.args.metrics_token.clone(),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.status() != StatusCode::OK {
            return Err(format!("/metrics answered {}", response.status()));
        }
        let exposed = exposed_families(&response.text().await.map_err(|e| e.to_string())?);
        let catalogue = orator_e2e::catalogue::Catalogue::embedded().families("api");
        let unknown: Vec<&String> = exposed.keys().filter(|f| !catalogue.contains_key(*f)).collect();
        let required = [
            "orator_build_info",
            "http_server_request_duration_seconds",
            "orator_speech_requests_total",
        ];
        let missing: Vec<&&str> = required.iter().filter(|f| !exposed.contains_key(**f)).collect();
        if !unknown.is_empty() || !missing.is_empty() {
            return Err(format!("not in the catalogue: {unknown:?}; missing: {missing:?}"));
        }
        Ok(format!("{} families, all catalogued", exposed.len()))
    }

    async fn targets_up(&self, prometheus: &str) -> Outcome {
        let url = format!("{}/api/v1/query", prometheus.trim_end_matches('/'));
        let (_, body) = self
            .json(self.http.get(url).query(&[("query", r#"up{job=~"orator-.*"}"#)]))
            .await?;
        let series = body["data"]["result"].as_array().cloned().unwrap_or_default();
        let down: Vec<String> = series
            .iter()
            .filter(|s| s["value"][1] != "1")
            .map(|s| s["metric"]["instance"].as_str().unwrap_or("?").to_owned())
            .collect();
        if series.is_empty() || !down.is_empty() {
            return Err(format!("{} Orator targets, down: {down:?}", series.len()));
        }
        Ok(format!("{} Orator targets up", series.len()))
    }

    async fn no_alerts(&self, alertmanager: &str) -> Outcome {
        let url = format!(
            "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
            alertmanager.trim_end_matches('/')
        );
        let (_, body) = self.json(self.http.get(url)).await?;
        let names: Vec<&str> = body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["labels"]["alertname"].as_str())
            .collect();
        names
            .is_empty()
            .then(|| "none firing".to_owned())
            .ok_or(format!("firing: {names:?}"))
    }
}

/// The bytes decode to audible audio of plausible length.
fn decodes(format: &str, bytes: &[u8], rate: u32) -> Outcome {
    let decoded = std::panic::catch_unwind(|| audio::decode(format, bytes, rate))
        .map_err(|_| format!("{} bytes do not decode as {format}", bytes.len()))?;
    if decoded.duration() < 0.3 || decoded.rms() < 0.01 {
        return Err(format!(
            "{format}: {:.2} s at level {:.3}",
            decoded.duration(),
            decoded.rms()
        ));
    }
    Ok(format!(
        "{:.2} s of {format} at {} Hz",
        decoded.duration(),
        decoded.sample_rate
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let http = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let mut smoke = Smoke { http, args, failed: 0 };
    println!("smoke-testing {}", smoke.args.url);
    // Runs one check and reports it.
    macro_rules! check {
        ($name:expr, $call:expr) => {{
            let started = Instant::now();
            let outcome = $call.await;
            smoke.report(&$name, started, outcome);
        }};
    }
    check!("health: ready, each check listed", smoke.ready());
    check!("OpenAI contract: models and voices", smoke.models());
    check!("responses carry traceparent", smoke.traceparent());
    for format in ["mp3", "opus", "aac", "flac", "wav", "pcm"] {
        check!(format!("speech decodes: {format}"), smoke.speech(format));
    }
    check!("an async job completes", smoke.job());
    check!("errors have the documented shape", smoke.errors());
    check!("/metrics carries the catalogue's families", smoke.metrics());
    if let Some(prometheus) = smoke.args.prometheus.clone() {
        check!("Prometheus: Orator targets up", smoke.targets_up(&prometheus));
    }
    if let Some(alertmanager) = smoke.args.alertmanager.clone() {
        check!("Alertmanager: no alert fires", smoke.no_alerts(&alertmanager));
    }
    if smoke.failed > 0 {
        println!("{} check(s) failed", smoke.failed);
        std::process::exit(1);
    }
    println!("all checks passed");
}
