//! The job message body.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What travels on `tts.jobs`: the id, and for sync jobs the caller's deadline. The job
/// row is the source of truth, so a redelivered or replayed message can never carry stale
/// instructions; the deadline only lets a worker skip work nobody waits for any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    /// The job to run.
    pub job_id: Uuid,
    /// When the caller stops waiting (Unix milliseconds); absent for async jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<i64>,
}

impl JobMessage {
    /// True once the deadline (if any) has passed at `now_ms`.
    pub fn expired_at(&self, now_ms: i64) -> bool {
        self.deadline_ms.is_some_and(|d| now_ms >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_messages_without_a_deadline_still_parse_and_never_expire() {
        let id = Uuid::now_v7();
        let m: JobMessage = serde_json::from_value(serde_json::json!({ "job_id": id })).unwrap();
        assert_eq!(m.deadline_ms, None);
        assert!(!m.expired_at(i64::MAX));
        let sync = JobMessage {
            job_id: id,
            deadline_ms: Some(1000),
        };
        assert!(!sync.expired_at(999));
        assert!(sync.expired_at(1000));
        let json = serde_json::to_value(sync).unwrap();
        assert_eq!(json["deadline_ms"], 1000);
    }
}
