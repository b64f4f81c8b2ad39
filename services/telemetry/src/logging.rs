//! Logs on stdout. For machines (the default when stdout is not a terminal), JSON, one
//! object a line: `timestamp`, `level`, `message`, `target`, `service`, `trace_id`,
//! `span_id`, the fields of every enclosing span (such as `request_id`) and the event's own
//! fields. For a person at a terminal, tracing-subscriber's coloured text.
//!
//! Written for the hot path: each span renders its fields to JSON once, when they are
//! recorded, and each event writes its line straight into one reused buffer — no map of
//! values per line, and no text formatting of span fields for a formatter nobody reads.

use std::{cell::RefCell, fmt, io::Write};

use opentelemetry::trace::TraceContextExt;
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
    span::{Attributes, Id, Record},
};
use tracing_subscriber::{EnvFilter, Layer, layer::Context, prelude::*, registry::LookupSpan};

use crate::ServiceInfo;

/// Filter used when `RUST_LOG` is unset; lapin's own I/O loop span is noise at INFO. The
/// OpenTelemetry SDK logs an error for every batch it cannot export; the exporter wrapper
/// in [`crate::traces`] says it once instead and counts every failure.
pub const DEFAULT_FILTER: &str =
    "info,lapin=warn,sqlx=warn,tower_http=warn,opentelemetry=warn,opentelemetry_sdk=off,opentelemetry_otlp=warn";

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object a line (for collectors).
    Json,
    /// Human-readable, coloured text.
    Pretty,
}

impl LogFormat {
    /// From `<NAMESPACE>_LOG_FORMAT` (`ORATOR_LOG_FORMAT` for Orator): `json`, `pretty`, or
    /// `auto` (the default), which is pretty when stdout is a terminal and JSON otherwise.
    pub fn from_env(namespace: &str) -> Result<Self, String> {
        let name = format!("{}_LOG_FORMAT", namespace.to_ascii_uppercase());
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        Self::parse(std::env::var(&name).ok().as_deref(), terminal)
            .map_err(|other| format!("invalid value {other:?} for {name}: expected json, pretty or auto"))
    }

    /// The format `value` names, given whether stdout is a terminal; the value when unknown.
    fn parse(value: Option<&str>, terminal: bool) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("" | "auto") if terminal => Ok(Self::Pretty),
            None | Some("" | "auto") => Ok(Self::Json),
            Some("json") => Ok(Self::Json),
            Some("pretty") => Ok(Self::Pretty),
            Some(other) => Err(other.to_owned()),
        }
    }
}

/// Keys every line has; a field of the same name is left out rather than repeated.
const RESERVED: [&str; 7] = [
    "timestamp",
    "level",
    "target",
    "service",
    "trace_id",
    "span_id",
    "message",
];

/// Installs the global subscriber: the filter from `RUST_LOG`, the OpenTelemetry layer and
/// the lines in `format`.
pub fn init(service: ServiceInfo, tracer: opentelemetry_sdk::trace::SdkTracer, format: LogFormat) {
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_error_records_to_exceptions(true);
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with((format == LogFormat::Json).then_some(JsonLines { service: service.name }))
        .with((format == LogFormat::Pretty).then(tracing_subscriber::fmt::layer))
        .try_init();
}

/// A span's fields, each value already rendered as JSON.
#[derive(Default)]
struct Fields(Vec<(&'static str, Vec<u8>)>);

impl Fields {
    fn set(&mut self, name: &'static str, value: Vec<u8>) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name, value)),
        }
    }
}

/// Renders visited values to JSON.
struct Render<F: FnMut(&'static str, &dyn Fn(&mut Vec<u8>))>(F);

impl<F: FnMut(&'static str, &dyn Fn(&mut Vec<u8>))> Visit for Render<F> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        (self.0)(field.name(), &|out| json(out, text.as_str()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field.name(), &|out| json(out, &value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field.name(), &|out| json(out, &value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field.name(), &|out| json(out, &value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field.name(), &|out| json(out, &value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field.name(), &|out| json(out, &value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let text = value.to_string();
        (self.0)(field.name(), &|out| json(out, text.as_str()));
    }
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail, and these types always serialise.
    let _ = serde_json::to_writer(out, value);
}

/// Fields that steer tracing-opentelemetry and mean nothing in a log line.
fn is_otel_control(name: &str) -> bool {
    name.starts_with("otel.")
}

fn record_into(fields: &mut Fields, values: impl FnOnce(&mut dyn Visit)) {
    values(&mut Render(|name, write: &dyn Fn(&mut Vec<u8>)| {
        if !is_otel_control(name) {
            let mut value = Vec::new();
            write(&mut value);
            fields.set(name, value);
        }
    }));
}

/// The layer that writes the lines.
struct JsonLines {
    service: &'static str,
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// One line under construction: each key at most once.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    seen: Vec<&'static str>,
}

impl Line<'_> {
    fn key(&mut self, name: &'static str) -> bool {
        if RESERVED.contains(&name) || self.seen.contains(&name) {
            return false;
        }
        self.seen.push(name);
        self.out.push(b',');
        json(self.out, name);
        self.out.push(b':');
        true
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for JsonLines {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        record_into(&mut fields, |v| attrs.record(v));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<Fields>() {
            record_into(fields, |v| values.record(v));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        LINE.with_borrow_mut(|out| {
            out.clear();
            out.extend_from_slice(b"{\"timestamp\":");
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            json(out, now.as_str());
            let mut line = Line {
                out,
                seen: Vec::with_capacity(16),
            };
            // `message` first among the fields; the event's own fields win over its spans'.
            event.record(&mut Render(|name, write: &dyn Fn(&mut Vec<u8>)| {
                if name == "message" || !RESERVED.contains(&name) && !line.seen.contains(&name) {
                    line.seen.push(name);
                    line.out.push(b',');
                    json(line.out, name);
                    line.out.push(b':');
                    write(line.out);
                }
            }));
            let mut leaf = None;
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    leaf.get_or_insert_with(|| span.id());
                    if let Some(fields) = span.extensions().get::<Fields>() {
                        for (name, value) in &fields.0 {
                            if line.key(name) {
                                line.out.extend_from_slice(value);
                            }
                        }
                    }
                }
            }
            for (name, value) in [
                ("level", meta.level().as_str()),
                ("target", meta.target()),
                ("service", self.service),
            ] {
                line.out.push(b',');
                json(line.out, name);
                line.out.push(b':');
                json(line.out, value);
            }
            if let Some(id) = leaf {
                // Must not hold span extensions here: the lookup takes them itself.
                let cx = tracing::dispatcher::get_default(|d| tracing_opentelemetry::get_otel_context(&id, d));
                if let Some(cx) = cx {
                    let span = cx.span();
                    let sc = span.span_context();
                    if sc.is_valid() {
                        let _ = write!(
                            line.out,
                            ",\"trace_id\":\"{}\",\"span_id\":\"{}\"",
                            sc.trace_id(),
                            sc.span_id()
                        );
                    }
                }
            }
            line.out.extend_from_slice(b"}\n");
            // One write per line, so lines from different threads never interleave.
            let _ = std::io::stdout().lock().write_all(line.out);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_pretty_at_a_terminal_and_json_elsewhere() {
        assert_eq!(LogFormat::parse(None, true), Ok(LogFormat::Pretty));
        assert_eq!(LogFormat::parse(Some("auto"), false), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(Some(" json "), true), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(Some("pretty"), false), Ok(LogFormat::Pretty));
        assert_eq!(LogFormat::parse(Some("yaml"), false), Err("yaml".to_owned()));
    }

    #[test]
    fn a_line_has_each_key_once_with_the_event_winning() {
        let mut out = Vec::new();
        let mut line = Line {
            out: &mut out,
            seen: vec!["message", "job_id"],
        };
        assert!(!line.key("job_id"), "already written by the event");
        assert!(!line.key("level"), "reserved");
        assert!(line.key("request_id"));
        assert!(!line.key("request_id"), "an outer span's field of the same name");
        assert_eq!(String::from_utf8(out).unwrap(), ",\"request_id\":");
    }
}
