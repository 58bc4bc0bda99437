//! One shutdown signal for the whole controller (the shape of mini-redis's
//! `shutdown.rs`, with tokio-util's `CancellationToken` and `TaskTracker`).
//!
//! Every long-lived task is spawned through [`Shutdown::spawn`] and watches
//! [`Shutdown::cancelled`] at its safe points: a worker between passes, the
//! outbox between messages, an ingest link between batches (the batch in
//! flight commits and is acknowledged first). [`Shutdown::drain`] then waits
//! for all of them, bounded by a deadline, instead of aborting them mid-work.

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every task to stop at its next safe point.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown was triggered.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Spawns a task that [`Shutdown::drain`] waits for.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Sleeps for `d`, or less if shutdown is triggered meanwhile; true if
    /// the task should stop.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_triggered(),
            _ = self.token.cancelled() => true,
        }
    }

    /// Triggers shutdown and waits up to `deadline` for every spawned task
    /// to finish; returns false if some were still running.
    pub async fn drain(&self, deadline: Duration) -> bool {
        self.trigger();
        self.tasks.close();
        tokio::time::timeout(deadline, self.tasks.wait()).await.is_ok()
    }
}

/// Runs `pass` every `every` until shutdown: a pass in progress always
/// finishes (workers stop between passes, never inside one).
pub async fn every<F, Fut>(shutdown: &Shutdown, every: Duration, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        pass().await;
        if shutdown.is_triggered() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_pass_in_progress_finishes_and_no_new_one_starts() {
        let s = Shutdown::new();
        let started = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (st, fi) = (started.clone(), finished.clone());
        let s2 = s.clone();
        s.spawn(async move {
            every(&s2, Duration::from_millis(10), || {
                let (st, fi) = (st.clone(), fi.clone());
                async move {
                    st.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    fi.fetch_add(1, Ordering::SeqCst);
                }
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(s.drain(Duration::from_secs(5)).await, "the worker stopped");
        let (st, fi) = (started.load(Ordering::SeqCst), finished.load(Ordering::SeqCst));
        assert!(st >= 1);
        assert_eq!(st, fi, "every started pass finished");
    }

    #[tokio::test]
    async fn drain_reports_a_task_that_ignores_the_signal() {
        let s = Shutdown::new();
        s.spawn(async { tokio::time::sleep(Duration::from_secs(30)).await });
        assert!(!s.drain(Duration::from_millis(50)).await);
    }
}
