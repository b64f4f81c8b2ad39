//! Process metrics (CPU, memory, open files, threads) and the build-info gauge.

use std::time::Duration;

use crate::ServiceInfo;

/// Describes and starts refreshing the process metrics, and sets `<namespace>_build_info`.
pub fn register(service: ServiceInfo) {
    let collector = metrics_process::Collector::default();
    collector.describe();
    collector.collect();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            collector.collect();
        }
    });
    let name = format!("{}_build_info", service.metrics_namespace);
    metrics::describe_gauge!(name.clone(), "Always 1; its labels say which build is running.");
    metrics::gauge!(name, "version" => service.version, "revision" => service.revision).set(1.0);
}
