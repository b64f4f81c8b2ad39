//! The service's own metric names, in one place (`monitoring/metrics.yaml` catalogues them).

/// Greetings served, by outcome.
pub const GREETINGS: &str = "__NS___greetings_total";

/// Describes the metrics and starts each outcome at zero, so "none yet" reads 0, not absence.
pub fn describe() {
    metrics::describe_counter!(GREETINGS, "Greetings requested, by outcome.");
    for outcome in ["ok", "rejected"] {
        metrics::counter!(GREETINGS, "outcome" => outcome).increment(0);
    }
}
