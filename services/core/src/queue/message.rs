//! The job message body.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What travels on `tts.jobs`: only the id. The job row is the source of truth, so a
/// redelivered or replayed message can never carry stale instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job to run.
    pub job_id: Uuid,
}
