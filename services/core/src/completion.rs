//! Waiting for a job to end. Workers announce finished jobs with `NOTIFY` in the same
//! transaction that stores the result; one listener per process fans those out to the
//! requests waiting on them. PostgreSQL carries the signal (not Redis) so sync speech
//! keeps working when the cache is down.
//!
//! A [`Waiter`] is registered before its job exists (the id is chosen first), so no
//! announcement can slip between creating the job and waiting; it removes itself when
//! dropped, whether the wait ended, timed out or its request went away.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::watch;
use uuid::Uuid;

use crate::db::{JOB_DONE_CHANNEL, jobs};

/// How often a waiter re-reads its job, in case a notification was lost while the
/// listener reconnected.
const RECHECK: Duration = Duration::from_millis(1000);

/// Entries in the waiter map.
pub const WAITERS: &str = "orator_completion_waiters";

type Registry = Arc<Mutex<HashMap<Uuid, watch::Sender<bool>>>>;

/// Registry of requests waiting for jobs to end.
#[derive(Clone)]
pub struct Completions {
    pool: PgPool,
    waiting: Registry,
}

/// A wait that ended without the job ending.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed first.
    #[error("job did not finish within the deadline")]
    Deadline,
}

/// One registered wait for one job.
pub struct Waiter {
    id: Uuid,
    pool: PgPool,
    waiting: Registry,
    woken: Option<watch::Receiver<bool>>,
}

impl Completions {
    /// Starts the listener task.
    pub fn start(pool: PgPool) -> Self {
        metrics::describe_gauge!(WAITERS, "Requests registered to be woken when their job ends.");
        metrics::gauge!(WAITERS).set(0.0);
        let me = Self {
            pool,
            waiting: Arc::default(),
        };
        tokio::spawn(me.clone().listen());
        me
    }

    async fn listen(self) {
        loop {
            let mut listener = match PgListener::connect_with(&self.pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "job completion listener cannot connect");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(JOB_DONE_CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                match listener.recv().await {
                    Ok(n) => {
                        if let Ok(id) = n.payload().parse::<Uuid>() {
                            self.wake(id);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "job completion listener lost its connection");
                        break;
                    }
                }
            }
        }
    }

    fn wake(&self, id: Uuid) {
        let mut waiting = self.waiting.lock().expect("completion registry poisoned");
        if let Some(tx) = waiting.remove(&id) {
            let _ = tx.send(true);
        }
        metrics::gauge!(WAITERS).set(waiting.len() as f64);
    }

    /// Registers interest in job `id` (which may not exist yet).
    pub fn register(&self, id: Uuid) -> Waiter {
        let mut waiting = self.waiting.lock().expect("completion registry poisoned");
        let rx = waiting.entry(id).or_insert_with(|| watch::channel(false).0).subscribe();
        metrics::gauge!(WAITERS).set(waiting.len() as f64);
        Waiter {
            id,
            pool: self.pool.clone(),
            waiting: self.waiting.clone(),
            woken: Some(rx),
        }
    }

    /// Entries in the registry now.
    pub fn len(&self) -> usize {
        self.waiting.lock().expect("completion registry poisoned").len()
    }

    /// True when nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Waiter {
    /// Waits until the job has ended, for at most `deadline`.
    pub async fn wait(&mut self, deadline: Duration) -> Result<(), WaitError> {
        let until = tokio::time::Instant::now() + deadline;
        let woken = self.woken.as_mut().expect("receiver present until drop");
        loop {
            tokio::select! {
                // A closed sender means the entry was replaced or woken: re-read the job.
                _ = woken.changed() => return Ok(()),
                _ = tokio::time::sleep(RECHECK) => match jobs::status(&self.pool, self.id).await {
                    Ok(status) if status.is_some_and(|s| s.is_terminal()) => return Ok(()),
                    Ok(_) => {}
                    // The re-read is only a safety net: a failed one must not end the wait.
                    Err(e) => tracing::debug!(job_id = %self.id, error = %e, "re-reading a waited-for job failed"),
                },
                _ = tokio::time::sleep_until(until) => return Err(WaitError::Deadline),
            }
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        drop(self.woken.take());
        let mut waiting = self.waiting.lock().expect("completion registry poisoned");
        if waiting.get(&self.id).is_some_and(|tx| tx.receiver_count() == 0) {
            waiting.remove(&self.id);
        }
        metrics::gauge!(WAITERS).set(waiting.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registry whose pool never connects: these tests need no job table.
    fn idle() -> Completions {
        Completions {
            pool: sqlx::postgres::PgPoolOptions::new()
                .connect_lazy("postgres://nobody@127.0.0.1:1/none")
                .unwrap(),
            waiting: Arc::default(),
        }
    }

    #[tokio::test]
    async fn waiters_remove_themselves_however_they_end() {
        let c = idle();
        // Woken, then dropped.
        let mut woken = c.register(Uuid::now_v7());
        c.wake(woken.id);
        woken.wait(Duration::from_secs(5)).await.expect("woken");
        drop(woken);
        // Timed out.
        let mut late = c.register(Uuid::now_v7());
        assert!(matches!(
            late.wait(Duration::from_millis(10)).await,
            Err(WaitError::Deadline)
        ));
        drop(late);
        // Cancelled mid-wait (the request went away).
        let mut gone = c.register(Uuid::now_v7());
        let task = tokio::spawn(async move { gone.wait(Duration::from_secs(60)).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        task.abort();
        let _ = task.await;
        // Many that never waited.
        for _ in 0..1000 {
            drop(c.register(Uuid::now_v7()));
        }
        assert!(c.is_empty(), "{} entries left", c.len());
    }

    #[tokio::test]
    async fn two_waiters_on_one_job_share_the_entry() {
        let c = idle();
        let id = Uuid::now_v7();
        let mut a = c.register(id);
        let b = c.register(id);
        assert_eq!(c.len(), 1);
        drop(b);
        assert_eq!(c.len(), 1, "a still waits");
        c.wake(id);
        a.wait(Duration::from_secs(5)).await.expect("woken");
        drop(a);
        assert!(c.is_empty());
    }
}
