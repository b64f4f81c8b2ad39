//! Observability plumbing that knows nothing of the service it instruments, so a new
//! service can copy this crate unchanged.

pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod shutdown;
