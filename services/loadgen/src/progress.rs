//! A live progress line on stderr: elapsed time, finished scenarios, current rate, errors.

use std::{
    io::IsTerminal,
    sync::Arc,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

use crate::stats::Recorder;

/// The bar and the task that refreshes it.
pub struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the bar unless `disabled` or stderr is not a terminal (logs, CI, compose).
    pub fn start(recorder: Arc<Recorder>, duration: Option<Duration>, disabled: bool) -> Option<Self> {
        if disabled || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = match duration {
            Some(d) => {
                let bar = ProgressBar::new(d.as_millis() as u64);
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
                        .expect("valid template"),
                );
                bar
            }
            None => {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("valid template"),
                );
                bar
            }
        };
        let start = Instant::now();
        let task = tokio::spawn({
            let bar = bar.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                let (mut last_done, mut last_at) = (0, Instant::now());
                loop {
                    tick.tick().await;
                    let (done, now) = (recorder.done(), Instant::now());
                    // Rate over the last second or so, so it follows changes.
                    let rate = (done - last_done) as f64 / (now - last_at).as_secs_f64().max(1e-3);
                    if now - last_at >= Duration::from_secs(1) {
                        (last_done, last_at) = (done, now);
                    }
                    bar.set_position(start.elapsed().as_millis() as u64);
                    bar.set_message(format!("{done} done, {rate:.0}/s, {} errors", recorder.errors()));
                }
            }
        });
        Some(Self { bar, task })
    }

    /// Removes the bar before the report is printed.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
