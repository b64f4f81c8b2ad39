//! Single-flight: concurrent callers with the same key share one piece of work. The work
//! is driven by whoever still awaits it, so the first caller may go away without failing
//! the others; when the last one goes, the work is dropped and the key is free again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use futures::future::{BoxFuture, FutureExt, Shared, WeakShared};

type Flights<T> = Arc<Mutex<HashMap<String, (u64, WeakShared<BoxFuture<'static, T>>)>>>;

/// Work in progress by key.
pub struct SingleFlight<T> {
    flights: Flights<T>,
    generation: AtomicU64,
}

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        Self {
            flights: Arc::default(),
            generation: AtomicU64::new(0),
        }
    }
}

/// Removes its flight's entry when the work ends or is dropped, unless a newer flight
/// already took the key.
struct Release<T> {
    flights: Flights<T>,
    key: String,
    generation: u64,
}

impl<T> Drop for Release<T> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().expect("single-flight map poisoned");
        if flights.get(&self.key).is_some_and(|(g, _)| *g == self.generation) {
            flights.remove(&self.key);
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Joins the work running under `key`, or starts `work()` there. Returns the result and
    /// whether this caller joined someone else's work.
    pub async fn run<F>(&self, key: &str, work: impl FnOnce() -> F) -> (T, bool)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (shared, joined) = {
            let mut flights = self.flights.lock().expect("single-flight map poisoned");
            match flights.get(key).and_then(|(_, weak)| weak.upgrade()) {
                Some(running) => (running, true),
                None => {
                    let generation = self.generation.fetch_add(1, Ordering::Relaxed);
                    let release = Release {
                        flights: self.flights.clone(),
                        key: key.to_owned(),
                        generation,
                    };
                    let future = work();
                    let shared: Shared<BoxFuture<'static, T>> = async move {
                        let _release = release;
                        future.await
                    }
                    .boxed()
                    .shared();
                    let weak = shared.downgrade().expect("not yet polled");
                    flights.insert(key.to_owned(), (generation, weak));
                    (shared, false)
                }
            }
        };
        (shared.await, joined)
    }

    /// Keys with work in progress.
    pub fn len(&self) -> usize {
        self.flights.lock().expect("single-flight map poisoned").len()
    }

    /// True when nothing runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test]
    async fn identical_concurrent_calls_run_once() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let calls = (0..50).map(|_| {
            let (flights, runs) = (flights.clone(), runs.clone());
            tokio::spawn(async move {
                flights
                    .run("same", || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        7
                    })
                    .await
            })
        });
        let results = futures::future::join_all(calls).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(results.iter().all(|r| r.as_ref().unwrap().0 == 7));
        assert_eq!(results.iter().filter(|r| r.as_ref().unwrap().1).count(), 49);
        assert!(flights.is_empty(), "entry removed when the work ended");
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_does_not_fail_its_followers() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let leader = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .run("k", || async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        1
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let follower = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run("k", || async { 2 }).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        leader.abort();
        assert_eq!(follower.await.unwrap(), (1, true), "the follower drove the work on");
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn work_nobody_awaits_is_dropped_and_the_key_freed() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let dropped = Arc::new(AtomicUsize::new(0));
        struct Mark(Arc<AtomicUsize>);
        impl Drop for Mark {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let mark = Mark(dropped.clone());
        let call = {
            let flights = flights.clone();
            tokio::spawn(async move {
                flights
                    .run("k", move || async move {
                        let _mark = mark;
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        1
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(flights.len(), 1);
        call.abort();
        let _ = call.await;
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "the work was dropped");
        assert!(flights.is_empty());
        assert_eq!(flights.run("k", || async { 3 }).await, (3, false));
    }
}
