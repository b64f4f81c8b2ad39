//! Waiting for a job to end. Workers announce finished jobs with `NOTIFY` in the same
//! transaction that stores the result; one listener per process fans those out to the
//! requests waiting on them. PostgreSQL carries the signal (not Redis) so sync speech
//! keeps working when the cache is down.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db::{JOB_DONE_CHANNEL, jobs};

/// How often a waiter re-reads its job, in case a notification was lost while the
/// listener reconnected.
const RECHECK: Duration = Duration::from_millis(1000);

/// Registry of requests waiting for jobs to end.
#[derive(Clone)]
pub struct Completions {
    pool: PgPool,
    waiting: Arc<Mutex<HashMap<Uuid, Vec<oneshot::Sender<()>>>>>,
}

/// A wait that ended without the job ending.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed first.
    #[error("job did not finish within the deadline")]
    Deadline,
    /// Reading the job failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Completions {
    /// Starts the listener task.
    pub fn start(pool: PgPool) -> Self {
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
        let senders = self.waiting.lock().expect("completion registry poisoned").remove(&id);
        for tx in senders.into_iter().flatten() {
            let _ = tx.send(());
        }
    }

    /// Waits until job `id` has ended, for at most `deadline`; returns the job.
    pub async fn wait(&self, id: Uuid, deadline: Duration) -> Result<jobs::Job, WaitError> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let (tx, mut rx) = oneshot::channel();
            self.waiting
                .lock()
                .expect("completion registry poisoned")
                .entry(id)
                .or_default()
                .push(tx);
            // Registered before reading, so an end between the read and the wait still wakes us.
            if let Some(job) = jobs::get(&self.pool, id).await?
                && job.status().is_terminal()
            {
                self.forget(id);
                return Ok(job);
            }
            tokio::select! {
                _ = &mut rx => {}
                _ = tokio::time::sleep(RECHECK) => {}
                _ = tokio::time::sleep_until(until) => {
                    self.forget(id);
                    return Err(WaitError::Deadline);
                }
            }
        }
    }

    fn forget(&self, id: Uuid) {
        let mut waiting = self.waiting.lock().expect("completion registry poisoned");
        if let Some(list) = waiting.get_mut(&id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiting.remove(&id);
            }
        }
    }
}
