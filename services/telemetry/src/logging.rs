//! JSON logs on stdout, one object a line.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Filter used when `RUST_LOG` is unset; lapin's own I/O loop span is noise at INFO.
pub const DEFAULT_FILTER: &str = "info,lapin=warn,sqlx=warn,tower_http=warn";

/// Installs the global JSON subscriber; the level comes from `RUST_LOG`.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true);
    // A second init (e.g. in tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::registry().with(filter).with(json).try_init();
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "logging initialised");
}
