//! __TITLE__: the configuration, the routes, the metrics and the start-up, each in its
//! own module, so that tests can build the router without starting a server.

pub mod config;
pub mod error;
pub mod greetings;
pub mod metrics;
pub mod startup;

/// How this service identifies itself in every signal.
pub fn service_info() -> orator_telemetry::ServiceInfo {
    orator_telemetry::ServiceInfo {
        name: "__SERVICE__",
        version: env!("CARGO_PKG_VERSION"),
        revision: env!("__ENV___REVISION"),
        metrics_namespace: "__NS__",
    }
}
