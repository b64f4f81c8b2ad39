//! OTLP traces, configured by the standard `OTEL_*` variables:
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, the default, or
//! `http/protobuf`), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` (default parent-based always-on),
//! `OTEL_BSP_*` and `OTEL_SDK_DISABLED`.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{
    Resource,
    error::OTelSdkResult,
    resource::EnvResourceDetector,
    trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter},
};

use crate::{InitError, ServiceInfo};

/// Where spans go: the configured endpoint, or the OpenTelemetry default the SDK uses when
/// none is set (OTLP/gRPC on localhost:4317, or :4318 for http/protobuf).
fn endpoint() -> String {
    env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .unwrap_or_else(|| "the default, localhost:4317 (gRPC) or :4318 (HTTP)".into())
}

/// Counter of spans the exporter delivered.
pub const SPANS_EXPORTED: &str = "otel_exported_spans_total";
/// Counter of export batches that failed (no collector, timeouts, rejections).
pub const EXPORT_FAILURES: &str = "otel_export_failures_total";

/// Describes the exporter metrics and starts them at zero, so a dashboard can tell "no
/// failures" from "not running".
pub fn describe() {
    metrics::describe_counter!(SPANS_EXPORTED, "Spans delivered to the OTLP endpoint.");
    metrics::describe_counter!(
        EXPORT_FAILURES,
        "OTLP export batches that failed (no collector, timeout, rejection)."
    );
    metrics::counter!(SPANS_EXPORTED).increment(0);
    metrics::counter!(EXPORT_FAILURES).increment(0);
}

/// The tracer provider and whether it exports.
pub struct Tracing {
    provider: SdkTracerProvider,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Tracing {
    /// Builds the provider from the environment. With `OTEL_SDK_DISABLED=true` nothing is
    /// exported, but spans still get ids, so logs stay correlated.
    pub fn from_env(service: ServiceInfo) -> Result<Self, InitError> {
        let mut builder = SdkTracerProvider::builder().with_resource(resource(service));
        let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !disabled {
            let protocol = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
                .unwrap_or_else(|| "grpc".into());
            let exporter = match protocol.as_str() {
                "grpc" => opentelemetry_otlp::SpanExporter::builder().with_tonic().build()?,
                "http/protobuf" => opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .build()?,
                other => {
                    return Err(InitError::Config(format!(
                        "invalid value {other:?} for OTEL_EXPORTER_OTLP_PROTOCOL: expected grpc or http/protobuf"
                    )));
                }
            };
            builder = builder.with_batch_exporter(Counting {
                inner: exporter,
                failing: AtomicBool::new(false),
            });
        }
        Ok(Self {
            provider: builder.build(),
        })
    }

    /// A tracer for the tracing-opentelemetry layer.
    pub fn tracer(&self) -> SdkTracer {
        self.provider.tracer("orator-telemetry")
    }

    /// Flushes what is left and stops, within [`SHUTDOWN_TIMEOUT`]: without a collector the
    /// export would otherwise wait for its own timeout (10 s) before the process can exit.
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
    }
}

/// service.name, service.version, service.instance.id and deployment.environment.name,
/// then whatever `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` say.
fn resource(service: ServiceInfo) -> Resource {
    let environment = env("DEPLOYMENT_ENVIRONMENT").unwrap_or_else(|| "development".into());
    let mut builder = Resource::builder_empty()
        .with_service_name(service.name)
        .with_attributes([
            KeyValue::new("service.version", service.version),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
            KeyValue::new("deployment.environment.name", environment),
            KeyValue::new("vcs.ref.head.revision", service.revision),
        ])
        .with_detector(Box::new(EnvResourceDetector::new()));
    if let Some(name) = env("OTEL_SERVICE_NAME") {
        builder = builder.with_service_name(name);
    }
    builder.build()
}

/// Longest a shutdown waits for the last spans to leave.
pub const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Wraps an exporter to count what it delivers and what fails, so a missing collector is
/// visible on `/metrics`; the logs say so once when exports start failing and once when
/// they work again, not at every batch.
#[derive(Debug)]
struct Counting<E> {
    inner: E,
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        match &result {
            Ok(()) => {
                metrics::counter!(SPANS_EXPORTED).increment(spans);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("trace export works again");
                }
            }
            Err(e) => {
                metrics::counter!(EXPORT_FAILURES).increment(1);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        error = %e,
                        endpoint = %endpoint(),
                        "trace export failed; spans are dropped until the collector answers (otel_export_failures_total counts every failed batch)"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
