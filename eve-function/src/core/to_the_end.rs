//! Work that must finish once begun, even when whoever awaits it stops: a chat whose model
//! has run is stored and counted whether or not its visitor is still there.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::task::TaskTracker;

/// `work`, awaited in place (no task of its own while its caller waits for it); dropped before
/// its end, it goes on on a task of its own, tracked by `tracker`.
pub struct ToTheEnd<F: Future + Send + 'static>
where
    F::Output: Send + 'static,
{
    work: Option<Pin<Box<F>>>,
    tracker: TaskTracker,
}

impl<F: Future + Send + 'static> ToTheEnd<F>
where
    F::Output: Send + 'static,
{
    pub fn new(work: F, tracker: TaskTracker) -> Self {
        Self {
            work: Some(Box::pin(work)),
            tracker,
        }
    }
}

impl<F: Future + Send + 'static> Future for ToTheEnd<F>
where
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Out of `self` while it runs: work that panics is not there for `drop` to move on.
        let Some(mut work) = self.work.take() else {
            return Poll::Pending;
        };
        let polled = work.as_mut().poll(cx);
        if polled.is_pending() {
            self.work = Some(work);
        }
        polled
    }
}

impl<F: Future + Send + 'static> Drop for ToTheEnd<F>
where
    F::Output: Send + 'static,
{
    fn drop(&mut self) {
        // Outside a runtime (it is shutting down) there is nowhere left to run it.
        if let (Some(work), Ok(runtime)) = (self.work.take(), tokio::runtime::Handle::try_current())
        {
            self.tracker.spawn_on(work, &runtime);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    // A paused clock: the caller's 10 ms always run out before the work's 50 ms.
    #[tokio::test(start_paused = true)]
    async fn work_dropped_before_its_end_finishes_on_its_own_task() {
        let finished = Arc::new(AtomicBool::new(false));
        let tracker = TaskTracker::new();
        let work = {
            let finished = Arc::clone(&finished);
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                finished.store(true, Ordering::SeqCst);
            }
        };
        let waited = tokio::time::timeout(
            Duration::from_millis(10),
            ToTheEnd::new(work, tracker.clone()),
        )
        .await;
        assert!(waited.is_err(), "the caller stopped waiting first");
        tracker.close();
        tracker.wait().await;
        assert!(finished.load(Ordering::SeqCst));
    }

    /// Work that panicked is not resumed on a task of its own (an `async` block resumed after
    /// a panic panics again): the panic is its caller's, as it would be without the wrapper.
    #[tokio::test]
    async fn work_that_panicked_is_not_polled_again() {
        /// Counts its polls, and panics in each.
        struct Breaks(Arc<AtomicUsize>);
        impl Future for Breaks {
            type Output = ();
            fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
                self.0.fetch_add(1, Ordering::SeqCst);
                panic!("the work broke");
            }
        }
        let polls = Arc::new(AtomicUsize::new(0));
        let tracker = TaskTracker::new();
        let caller = tokio::spawn(ToTheEnd::new(Breaks(Arc::clone(&polls)), tracker.clone()));
        assert!(caller.await.is_err(), "the panic reaches the caller");
        tracker.close();
        tracker.wait().await;
        assert_eq!(polls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn work_awaited_to_its_end_gives_its_output_in_place() {
        let tracker = TaskTracker::new();
        assert_eq!(ToTheEnd::new(async { 7 }, tracker.clone()).await, 7);
        assert!(tracker.is_empty(), "no task of its own");
    }
}
