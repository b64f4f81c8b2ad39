//! Authentication, rate limits and every kind of bad input: a 4xx with a JSON body in
//! OpenAI's shape that names the problem.

use std::time::Duration;

use orator_e2e::TestEnv;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn error_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON error body");
    let error = body["error"].clone();
    assert!(error["type"].is_string() && error["message"].is_string(), "{body}");
    assert!(error.get("param").is_some() && error.get("code").is_some(), "{body}");
    (status, error)
}

#[tokio::test]
async fn missing_or_wrong_keys_get_401() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_AUTH_CACHE_TTL_MS", "500")]).await;
    let body = json!({"model": "tts-1", "input": "hi", "voice": "alloy"});
    let none = api
        .http
        .post(api.url("/v1/audio/speech"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(none).await;
    assert_eq!(status, 401);
    assert_eq!(error["type"], "authentication_error");
    let wrong = api
        .http
        .post(api.url("/v1/audio/speech"))
        .bearer_auth("ork_wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(wrong).await.0, 401);
    let not_bearer = api
        .http
        .get(api.url("/v1/models"))
        .basic_auth("user", Some(&api.key))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(not_bearer).await.0, 401);
    // A revoked key stops working once the key cache (ORATOR_AUTH_CACHE_TTL_MS) forgets it.
    assert_eq!(
        api.request(Method::GET, "/v1/models").send().await.unwrap().status(),
        200
    );
    let db = env.db().await;
    sqlx::query("UPDATE api_keys SET revoked_at = now()")
        .execute(&db)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let revoked = api.request(Method::GET, "/v1/models").send().await.unwrap();
    assert_eq!(error_of(revoked).await.0, 401);
    // And the key never reaches the logs.
    assert!(
        !api.service.logs().iter().any(|l| l.contains(&api.key)),
        "the API key was logged"
    );
}

#[tokio::test]
async fn past_the_limit_requests_get_429_with_retry_after() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[("ORATOR_RATE_LIMIT", "3"), ("ORATOR_RATE_LIMIT_WINDOW_SECS", "60")])
        .await;
    for _ in 0..3 {
        assert_eq!(
            api.request(Method::GET, "/v1/models").send().await.unwrap().status(),
            200
        );
    }
    let limited = api.request(Method::GET, "/v1/models").send().await.unwrap();
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let (status, error) = error_of(limited).await;
    assert_eq!(status, 429);
    assert_eq!(error["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn an_address_that_keeps_failing_auth_is_throttled_and_a_bad_key_costs_one_lookup() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_AUTH_FAILURES_PER_MINUTE", "5")]).await;
    let lookups = |api: &orator_e2e::Api| {
        let url = api.url("/metrics");
        async move {
            let text = reqwest::get(url).await.unwrap().text().await.unwrap();
            text.lines()
                .filter(|l| l.starts_with("db_client_operation_duration_seconds_count") && l.contains("api_keys"))
                .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
                .sum::<f64>()
        }
    };
    let models = |key: &str| api.http.get(api.url("/v1/models")).bearer_auth(key).send();
    let before = lookups(&api).await;
    for _ in 0..3 {
        assert_eq!(models("ork_same_wrong_key").await.unwrap().status(), 401);
    }
    assert_eq!(
        lookups(&api).await - before,
        1.0,
        "a repeated bad key is looked up once"
    );
    // Two more failures reach the limit of five; then the address is refused before any lookup.
    for key in ["ork_wrong_4", "ork_wrong_5"] {
        assert_eq!(models(key).await.unwrap().status(), 401);
    }
    let before = lookups(&api).await;
    let throttled = models("ork_wrong_6").await.unwrap();
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    assert_eq!(lookups(&api).await, before, "no lookup once throttled");
}

#[tokio::test]
async fn without_redis_the_rate_limit_is_kept_in_process() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[("ORATOR_RATE_LIMIT", "3"), ("ORATOR_RATE_LIMIT_WINDOW_SECS", "60")])
        .await;
    env.redis.cut();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            api.request(Method::GET, "/v1/models")
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429], "limited without Redis");
}

#[tokio::test]
async fn every_bad_input_gets_a_4xx_naming_the_problem() {
    let env = TestEnv::new().await;
    let api = env
        .api(&[("ORATOR_MAX_INPUT_CHARS", "100"), ("ORATOR_MAX_BODY_BYTES", "2048")])
        .await;
    let ok = json!({"model": "tts-1", "input": "hello", "voice": "alloy", "response_format": "wav", "speed": 1.0});
    let with = |field: &str, value: Value| {
        let mut b = ok.clone();
        b[field] = value;
        b
    };
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("empty text", with("input", json!("")), 400, "input"),
        ("blank text", with("input", json!("   ")), 400, "input"),
        (
            "text over the limit",
            with("input", json!("a".repeat(101))),
            400,
            "input",
        ),
        (
            "a NUL in the text",
            with("input", json!("before\u{0}after")),
            400,
            "input",
        ),
        ("a control character", with("input", json!("bell\u{7}")), 400, "input"),
        (
            "an espeak command character",
            with("input", json!("a\u{1}1000S")),
            400,
            "input",
        ),
        ("punctuation only", with("input", json!("...")), 422, "input"),
        (
            "invisible characters only",
            with("input", json!("\u{200b}\u{200b}")),
            422,
            "input",
        ),
        ("unknown voice", with("voice", json!("robot")), 400, "voice"),
        (
            "unknown voice object",
            with("voice", json!({"id": "robot"})),
            400,
            "voice",
        ),
        (
            "unknown stream format",
            with("stream_format", json!("chunks")),
            400,
            "stream_format",
        ),
        (
            "unknown format",
            with("response_format", json!("aiff")),
            400,
            "response_format",
        ),
        ("unknown model", with("model", json!("gpt-4")), 400, "model"),
        ("speed too low", with("speed", json!(0.1)), 400, "speed"),
        ("speed too high", with("speed", json!(4.5)), 400, "speed"),
    ];
    for (name, body, expected, param) in cases {
        for path in ["/v1/audio/speech", "/v1/jobs"] {
            let r = api.request(Method::POST, path).json(&body).send().await.unwrap();
            let (status, error) = error_of(r).await;
            assert_eq!(status.as_u16(), expected, "{name} on {path}: {error}");
            assert_eq!(error["param"], param, "{name} on {path}: {error}");
        }
    }

    // Missing fields and wrong types name the field in the message.
    for (body, field) in [
        (json!({"model": "tts-1", "voice": "alloy"}), "input"),
        (with("speed", json!("fast")), "speed"),
    ] {
        let r = api
            .request(Method::POST, "/v1/audio/speech")
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(r).await;
        assert_eq!(status, 400);
        assert!(error["message"].as_str().unwrap().contains(field), "{error}");
    }

    let malformed = api
        .request(Method::POST, "/v1/audio/speech")
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(malformed).await;
    assert_eq!((status.as_u16(), error["code"].as_str()), (400, Some("invalid_json")));

    let not_json = api
        .request(Method::POST, "/v1/audio/speech")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(not_json).await;
    assert_eq!(
        (status.as_u16(), error["code"].as_str()),
        (415, Some("unsupported_content_type"))
    );

    let huge = with("input", json!("a".repeat(4000)));
    let too_big = api
        .request(Method::POST, "/v1/audio/speech")
        .json(&huge)
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(too_big).await;
    assert_eq!((status.as_u16(), error["code"].as_str()), (413, Some("body_too_large")));

    let unknown = api.request(Method::GET, "/v1/nothing/here").send().await.unwrap();
    assert_eq!(error_of(unknown).await.0, 404);
    let wrong_method = api.request(Method::PUT, "/v1/audio/speech").send().await.unwrap();
    assert_eq!(error_of(wrong_method).await.0, 405);

    // Unknown extra fields are ignored, as OpenAI does.
    let extra = with("instructions", json!("Speak cheerfully"));
    let r = api.request(Method::POST, "/v1/jobs").json(&extra).send().await.unwrap();
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_that_exist() {
    let env = TestEnv::new().await;
    let api = env.api(&[]).await;
    let doc: Value = orator_e2e::json(api.http.get(api.url("/openapi.json"))).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            // Every documented operation is routed: authenticated with a dummy id it never
            // answers 404-for-no-route or 405.
            let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let r = api
                .request(method.to_uppercase().parse().unwrap(), &concrete)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !body["error"]["message"].as_str().unwrap_or("").starts_with("no route"),
                "{method} {path} is not routed"
            );
        }
    }
    assert_eq!(operations, 15, "{:?}", paths.keys().collect::<Vec<_>>());
    // What every handler shares is documented where it applies.
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
        for (method, op) in item.as_object().unwrap() {
            for status in ["401", "429", "503"] {
                assert!(op["responses"].get(status).is_some(), "{method} {path} lacks {status}");
            }
        }
    }
    for status in ["400", "413", "415", "422"] {
        assert!(
            paths["/v1/audio/speech"]["post"]["responses"].get(status).is_some(),
            "POST /v1/audio/speech lacks {status}"
        );
        assert!(
            paths["/v1/jobs"]["post"]["responses"].get(status).is_some(),
            "POST /v1/jobs lacks {status}"
        );
    }
    let list = &paths["/v1/jobs"]["get"]["parameters"];
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|p| p["in"] == "query" && p["required"] != true),
        "{list}"
    );
    let input = &doc["components"]["schemas"]["SpeechBody"]["properties"]["input"];
    assert_eq!(
        (input["minLength"].as_u64(), input["maxLength"].as_u64()),
        (Some(1), Some(4096))
    );
    assert!(
        doc["components"]["schemas"]["SpeechBody"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("input"))
    );
}

#[tokio::test]
async fn the_admin_api_bounds_what_requests_can_add_to_metrics_and_delays() {
    let env = TestEnv::new().await;
    let api = env.api(&[("ORATOR_ADMIN_API_KEY", "admin-secret")]).await;
    let admin = |method: Method, path: &str| api.http.request(method, api.url(path)).bearer_auth("admin-secret");
    let wrong = api
        .http
        .get(api.url("/admin/faults"))
        .bearer_auth("admin-secre")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let huge = admin(Method::PUT, "/admin/faults")
        .json(&json!({"api_latency_ms": 3_600_000, "api_latency_ratio": 1.0}))
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(huge).await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap().contains("api_latency_ms"), "{error}");

    // 300 distinct names, some not even label-like, and made-up statuses.
    let alerts: Vec<Value> = (0..300)
        .map(|i| {
            let name = if i % 3 == 0 { format!("bad name {i} ✓") } else { format!("Made_Up_{i}") };
            json!({"status": if i % 2 == 0 { "firing" } else { "exploded" }, "labels": {"alertname": name}, "annotations": {}})
        })
        .collect();
    let r = admin(Method::POST, "/admin/alerts")
        .json(&json!({"alerts": alerts}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = reqwest::get(api.url("/metrics")).await.unwrap().text().await.unwrap();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("orator_alerts_received_total{"))
        .collect();
    assert!(series.len() <= 2 * 101, "{} series", series.len());
    assert!(
        series
            .iter()
            .all(|l| l.contains("status=\"firing\"") || l.contains("status=\"other\""))
    );
    assert!(series.iter().any(|l| l.contains("alertname=\"other\"")));
    assert!(!series.iter().any(|l| l.contains("bad name")));
}
