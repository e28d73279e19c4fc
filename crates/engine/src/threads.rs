//! Threads of their own, each with a small runtime of its own: the ingest and journal lanes
//! (a batch is a dozen statements in a row, each answered at once: on the shared runtime
//! every answer waited in line behind hundreds of webhook and delivery tasks) and, on
//! SQLite, the delivery worker.
//!
//! The delivery worker's thread runs at a lower CPU priority (`nice`): when the cores are
//! saturated, answering a webhook (which the channel times and retries) goes before
//! sending replies (which wait in the outbox, durably, and leave in order either way).
//! Measured at 5,000 updates/s on two cores, the webhook ack p99 fell from 14–23 ms (sends
//! on the shared runtime) to 7–9 ms (see `docs/performance.md`).

use std::future::Future;

use tokio::sync::oneshot;

/// How a thread's work competes for the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// As every other thread of the server.
    Normal,
    /// Yields to the others when the cores are busy.
    Background,
}

/// How much nicer than the server a [`Priority::Background`] thread is: each step of 1 is
/// ~10% less CPU against a normal thread when both want it (10: a ninth of a normal
/// thread's share); 10 gave the best ack latency of the values measured.
const BACKGROUND_NICER: i32 = 10;
/// The nicest value Linux has.
const NICEST: i32 = 19;

/// Runs `task` on a thread named `name` with a runtime of its own; the receiver hears when
/// it has ended (or panicked).
pub fn spawn(
    name: String,
    priority: Priority,
    task: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<oneshot::Receiver<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (ended, ends) = oneshot::channel();
    std::thread::Builder::new().name(name).spawn(move || {
        if priority == Priority::Background {
            lower_priority();
        }
        runtime.block_on(task);
        let _ = ended.send(());
    })?;
    Ok(ends)
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    use rustix::process::{getpriority_process, setpriority_process};
    // On Linux a thread id names the thread alone, so only this thread yields. Relative to
    // the server's own value, so a server started with `nice` keeps its order.
    let thread = Some(rustix::thread::gettid());
    let lowered = getpriority_process(thread)
        .and_then(|now| setpriority_process(thread, (now + BACKGROUND_NICER).min(NICEST)));
    if let Err(e) = lowered {
        tracing::warn!(error = %e, "cannot lower the priority of a background thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rustix::process::getpriority_process;

    use super::*;

    async fn niceness_of(priority: Priority) -> i32 {
        let (tell, told) = oneshot::channel();
        let ended = spawn("test".into(), priority, async move {
            let _ = tell.send(getpriority_process(Some(rustix::thread::gettid())).unwrap());
        })
        .unwrap();
        let niceness = told.await.unwrap();
        ended.await.expect("told when the task ended");
        niceness
    }

    #[tokio::test]
    async fn background_threads_are_nicer_than_the_rest() {
        let own = getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(niceness_of(Priority::Normal).await, own);
        assert_eq!(
            niceness_of(Priority::Background).await,
            (own + BACKGROUND_NICER).min(NICEST)
        );
    }
}
