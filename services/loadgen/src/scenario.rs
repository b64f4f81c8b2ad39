//! What one scenario does against the api, and what counts as its success.

use std::{
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// One kind of user action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scenario {
    /// Sync speech for one of a few repeated texts: served from the cache.
    Hit,
    /// Sync speech for a text never sent before: synthesised by a worker while it waits.
    Miss,
    /// Async job: submit, poll until it ends, fetch its audio.
    Job,
    /// `GET /v1/audio/voices` or `GET /v1/models`.
    List,
    /// A request that must fail: wrong key (401), unknown voice (400), unknown path (404).
    Bad,
    /// `POST /v1/jobs` alone (job acceptance, for benchmarks).
    Submit,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 6] = [Self::Hit, Self::Miss, Self::Job, Self::List, Self::Bad, Self::Submit];

    /// Name in `--mix` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Job => "job",
            Self::List => "list",
            Self::Bad => "bad",
            Self::Submit => "submit",
        }
    }

    /// Runs the scenario once; `seed` drives its own choices (which text, which error).
    pub async fn run(self, ctx: &Ctx, seed: u64) -> Outcome {
        let mut rng = StdRng::seed_from_u64(seed);
        let result = match self {
            Self::Hit => hit(ctx, &mut rng).await,
            Self::Miss => speech(ctx, &ctx.texts.next()).await.map(|_| Outcome::Ok),
            Self::Job => job(ctx).await,
            Self::List => list(ctx, &mut rng).await,
            Self::Bad => bad(ctx, &mut rng).await,
            Self::Submit => submit(ctx).await.map(|_| Outcome::Ok),
        };
        result.unwrap_or_else(Outcome::Error)
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|v| v.name() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|v| v.name()).collect();
            format!("unknown scenario {s:?}; known: {}", names.join(", "))
        })
    }
}

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// As expected.
    Ok,
    /// As expected, with something worth counting (e.g. a cache miss in the hit scenario).
    Note(&'static str),
    /// Not as expected; the string is the kind (`status 503`, `timeout`, …).
    Error(String),
}

/// Everything scenarios share.
pub struct Ctx {
    /// HTTP client (one connection pool).
    pub client: reqwest::Client,
    /// Base URL without a trailing slash.
    pub url: String,
    /// Bearer key.
    pub api_key: String,
    /// Voice of speech requests.
    pub voice: String,
    /// Format of speech requests.
    pub format: String,
    /// Texts of the hit scenario.
    pub hit_texts: Vec<String>,
    /// Texts of the miss and job scenarios.
    pub texts: Texts,
    /// Job scenario: time between polls.
    pub poll_interval: Duration,
    /// Job scenario: how long a job may take.
    pub job_timeout: Duration,
}

/// Unique texts: a per-run random number keeps them unique across runs (the cache would
/// otherwise turn a second run's misses into hits), a counter within the run.
pub struct Texts {
    nonce: u32,
    counter: AtomicU64,
}

impl Texts {
    /// A source for this run.
    pub fn new(nonce: u32) -> Self {
        Self {
            nonce,
            counter: AtomicU64::new(0),
        }
    }

    /// The `n`th text.
    pub fn nth(&self, n: u64) -> String {
        format!(
            "Request {} {n}: the quick brown fox jumps over the lazy dog.",
            self.nonce
        )
    }

    /// The next text.
    pub fn next(&self) -> String {
        self.nth(self.counter.fetch_add(1, Ordering::Relaxed))
    }
}

/// The hit scenario's repeated texts (the same in every run, so the cache stays warm).
pub fn hit_texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("Thank you for calling Orator. This is cached greeting number {i}."))
        .collect()
}

/// A fresh W3C trace context, sampled, so every request starts its own trace.
pub fn traceparent() -> String {
    let mut rng = rand::rng();
    let trace: u128 = rng.random_range(1..=u128::MAX);
    let span: u64 = rng.random_range(1..=u64::MAX);
    format!("00-{trace:032x}-{span:016x}-01")
}

impl Ctx {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.url))
            .header("traceparent", traceparent())
    }

    fn authed(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&self.api_key)
    }

    fn speech_body(&self, text: &str) -> Value {
        json!({"model": "tts-1", "input": text, "voice": self.voice, "response_format": self.format})
    }
}

/// A response read to the end.
struct Response {
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

/// Sends, reads the whole body, and checks the status.
async fn send(request: RequestBuilder, expected: StatusCode) -> Result<Response, String> {
    let response = request.send().await.map_err(|e| transport(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = Vec::from(response.bytes().await.map_err(|e| transport(&e))?);
    if status != expected {
        return Err(if expected.is_success() {
            format!("status {}", status.as_u16())
        } else {
            format!("status {}, expected {}", status.as_u16(), expected.as_u16())
        });
    }
    Ok(Response { headers, body })
}

/// A short kind for a transport error.
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect error".into()
    } else if e.is_body() || e.is_decode() {
        "body error".into()
    } else {
        "transport error".into()
    }
}

fn json_body(response: &Response) -> Result<Value, String> {
    serde_json::from_slice(&response.body).map_err(|_| "invalid JSON".to_owned())
}

/// Sync speech; checks that audio came back.
async fn speech(ctx: &Ctx, text: &str) -> Result<Response, String> {
    let request = ctx
        .authed(Method::POST, "/v1/audio/speech")
        .json(&ctx.speech_body(text));
    let response = send(request, StatusCode::OK).await?;
    if response.body.is_empty() {
        return Err("empty audio".into());
    }
    Ok(response)
}

/// Warms one hit text into the cache (before the run; not measured).
pub async fn prime(ctx: &Ctx, text: &str) -> Result<(), String> {
    speech(ctx, text).await.map(drop)
}

async fn hit(ctx: &Ctx, rng: &mut StdRng) -> Result<Outcome, String> {
    let text = &ctx.hit_texts[rng.random_range(0..ctx.hit_texts.len())];
    let response = speech(ctx, text).await?;
    let cache = response.headers.get("x-orator-cache").and_then(|v| v.to_str().ok());
    Ok(if cache == Some("hit") {
        Outcome::Ok
    } else {
        Outcome::Note("cache miss")
    })
}

/// `POST /v1/jobs`; returns the job id.
async fn submit(ctx: &Ctx) -> Result<String, String> {
    let request = ctx
        .authed(Method::POST, "/v1/jobs")
        .json(&ctx.speech_body(&ctx.texts.next()));
    let job = json_body(&send(request, StatusCode::ACCEPTED).await?)?;
    job["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "job without id".into())
}

async fn job(ctx: &Ctx) -> Result<Outcome, String> {
    let id = submit(ctx).await?;
    let started = Instant::now();
    loop {
        if started.elapsed() > ctx.job_timeout {
            return Err("job timeout".into());
        }
        tokio::time::sleep(ctx.poll_interval).await;
        let view = json_body(&send(ctx.authed(Method::GET, &format!("/v1/jobs/{id}")), StatusCode::OK).await?)?;
        match view["status"].as_str() {
            Some("succeeded") => break,
            Some("failed") => return Err("job failed".into()),
            Some("canceled") => return Err("job canceled".into()),
            Some("queued" | "running") => {}
            _ => return Err("job status unknown".into()),
        }
    }
    let audio = send(ctx.authed(Method::GET, &format!("/v1/jobs/{id}/audio")), StatusCode::OK).await?;
    if audio.body.is_empty() {
        return Err("empty audio".into());
    }
    Ok(Outcome::Ok)
}

async fn list(ctx: &Ctx, rng: &mut StdRng) -> Result<Outcome, String> {
    let path = if rng.random_bool(0.5) {
        "/v1/audio/voices"
    } else {
        "/v1/models"
    };
    let list = json_body(&send(ctx.authed(Method::GET, path), StatusCode::OK).await?)?;
    if list["data"].as_array().is_none_or(Vec::is_empty) {
        return Err("empty list".into());
    }
    Ok(Outcome::Ok)
}

async fn bad(ctx: &Ctx, rng: &mut StdRng) -> Result<Outcome, String> {
    let (request, expected) = match rng.random_range(0..3) {
        0 => (
            ctx.request(Method::GET, "/v1/models")
                .bearer_auth(format!("wrong-key-{}", rng.random::<u32>())),
            StatusCode::UNAUTHORIZED,
        ),
        1 => (
            ctx.authed(Method::POST, "/v1/audio/speech")
                .json(&json!({"model": "tts-1", "input": "Hello.", "voice": "no-such-voice"})),
            StatusCode::BAD_REQUEST,
        ),
        _ => (ctx.authed(Method::GET, "/v1/no-such-path"), StatusCode::NOT_FOUND),
    };
    send(request, expected).await?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(s.name().parse::<Scenario>(), Ok(s));
        }
        assert!("hits".parse::<Scenario>().is_err());
    }

    #[test]
    fn traceparent_is_w3c_and_fresh() {
        let a = traceparent();
        let parts: Vec<_> = a.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1].len(), 32);
        assert_eq!(parts[2].len(), 16);
        assert_eq!(parts[3], "01");
        assert_ne!(parts[1], "0".repeat(32));
        assert_ne!(a, traceparent());
    }

    #[test]
    fn texts_are_unique() {
        let t = Texts::new(42);
        let a = t.next();
        assert_ne!(a, t.next());
        assert_eq!(a, t.nth(0));
    }
}
