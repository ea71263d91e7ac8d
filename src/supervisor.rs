//! Supervision of the engine's background tasks (sequencer, projectors, relay, WebSocket feed,
//! SLA timer, janitor, announcer, listener).
//!
//! Each task runs in its own tokio task, spawned again from its factory when it panics or
//! returns while the engine is not stopping: the cause is logged, the restart waits a backoff
//! (100 ms doubling up to 30 s, back to the start once a run lasted a minute), and the
//! registry ([`Tasks`]) keeps each task's state and restart count for `/readyz`. A task that
//! keeps dying ([`CRASH_LOOP`] runs in a row that each lasted less than a minute) makes the
//! engine not ready: it is up, but something it promises (positions, read models, pushes) is not
//! moving.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use ticket_nats::Timestamp;
use ticket_projections::listen::sleep_or_cancel;
use ticket_projections::CancellationToken;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Failed runs in a row (each shorter than [`STABLE_AFTER`]) after which `/readyz` says 503.
pub const CRASH_LOOP: u32 = 3;
/// A run that lasted this long counts as healthy: the next failure starts the backoff over.
pub const STABLE_AFTER: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Counter: restarts of background tasks, by task.
pub const METRIC_RESTARTS: &str = "ticketd_task_restarts_total";

/// What a supervised task is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Running (possibly after restarts).
    Running,
    /// Died; waiting for its backoff before the next start.
    Restarting,
    /// Stopped with the engine.
    Stopped,
}

/// One task as `/readyz` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    /// The task's name, e.g. `projector:ticket_view`.
    pub name: String,
    /// What it is doing.
    pub state: TaskState,
    /// Restarts since the engine started.
    pub restarts: u64,
    /// Failed runs in a row that were each shorter than a minute (0 once a run lasts).
    pub consecutive_failures: u32,
    /// Why it last died (the panic message, or that it returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it last died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
}

#[derive(Debug)]
struct Entry {
    report: TaskReport,
    /// Test hook: makes the running task panic (see [`Tasks::inject_panic`]).
    fault: Arc<Notify>,
}

/// The registry of supervised tasks; cheap to clone, shared with `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    inner: Arc<Mutex<BTreeMap<String, Entry>>>,
}

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic while holding this lock cannot leave an entry half-written: recover it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, name: &str, change: impl FnOnce(&mut TaskReport)) {
        if let Some(entry) = self.lock().get_mut(name) {
            change(&mut entry.report);
        }
    }

    /// Every task, by name.
    pub fn report(&self) -> Vec<TaskReport> {
        self.lock().values().map(|e| e.report.clone()).collect()
    }

    /// One task.
    pub fn get(&self, name: &str) -> Option<TaskReport> {
        self.lock().get(name).map(|e| e.report.clone())
    }

    /// The tasks caught in a crash loop (see [`CRASH_LOOP`]); readiness fails while any is.
    pub fn crash_looping(&self) -> Vec<String> {
        self.lock()
            .values()
            .filter(|e| e.report.consecutive_failures >= CRASH_LOOP)
            .map(|e| e.report.name.clone())
            .collect()
    }

    /// Fault injection for tests and drills: the named task panics now (or as soon as its
    /// current run starts), exactly as a bug in it would. False for an unknown name.
    pub fn inject_panic(&self, name: &str) -> bool {
        match self.lock().get(name) {
            Some(entry) => {
                entry.fault.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Starts tasks under supervision and waits for them at shutdown.
#[derive(Debug, Default)]
pub struct Supervisor {
    tasks: Tasks,
    handles: Vec<JoinHandle<()>>,
}

impl Supervisor {
    /// The registry, for `/readyz`.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Runs `make()` as task `name` and again whenever a run panics or returns before `stop`
    /// is cancelled. Each run must itself return soon after `stop` is cancelled.
    pub fn spawn<F, Fut>(&mut self, name: impl Into<String>, stop: CancellationToken, make: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let fault = Arc::new(Notify::new());
        self.tasks.lock().insert(
            name.clone(),
            Entry {
                report: TaskReport {
                    name: name.clone(),
                    state: TaskState::Running,
                    restarts: 0,
                    consecutive_failures: 0,
                    last_error: None,
                    last_error_at: None,
                },
                fault: fault.clone(),
            },
        );
        let tasks = self.tasks.clone();
        self.handles
            .push(tokio::spawn(supervise(name, stop, make, fault, tasks)));
    }

    /// Waits for every task to stop (after their `stop` tokens were cancelled), at most
    /// `within`; false when some did not.
    pub async fn join(self, within: Duration) -> bool {
        tokio::time::timeout(within, futures::future::join_all(self.handles))
            .await
            .is_ok()
    }
}

async fn supervise<F, Fut>(
    name: String,
    stop: CancellationToken,
    make: F,
    fault: Arc<Notify>,
    tasks: Tasks,
) where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut failures: u32 = 0;
    loop {
        let run = make();
        let fault = fault.clone();
        let started = Instant::now();
        tasks.update(&name, |r| r.state = TaskState::Running);
        // Its own tokio task, so that a panic unwinds only the run and reaches us as a JoinError.
        let joined = tokio::spawn(async move {
            tokio::select! {
                () = run => {}
                () = fault.notified() => panic!("panic injected by the fault hook"),
            }
        })
        .await;
        let cause = match joined {
            Ok(()) if stop.is_cancelled() => None,
            Ok(()) => Some("returned while the engine was running".to_string()),
            Err(error) if error.is_panic() => Some(format!("panicked: {}", panic_message(error))),
            Err(error) => Some(format!("was cancelled: {error}")),
        };
        let Some(cause) = cause else {
            tasks.update(&name, |r| r.state = TaskState::Stopped);
            return;
        };
        if started.elapsed() >= STABLE_AFTER {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let delay = backoff(failures);
        let mut restarts = 0;
        tasks.update(&name, |r| {
            r.state = TaskState::Restarting;
            r.restarts += 1;
            r.consecutive_failures = failures;
            r.last_error = Some(cause.clone());
            r.last_error_at = Some(Timestamp::now());
            restarts = r.restarts;
        });
        metrics::counter!(METRIC_RESTARTS, "task" => name.clone()).increment(1);
        tracing::error!(task = %name, cause = %cause, restarts, consecutive_failures = failures,
            retry_in_ms = delay.as_millis() as u64, "background task died; restarting it");
        if sleep_or_cancel(delay, &stop).await {
            tasks.update(&name, |r| r.state = TaskState::Stopped);
            return;
        }
    }
}

fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2_u32.saturating_pow(failures.saturating_sub(1).min(10)))
        .min(MAX_BACKOFF)
}

fn panic_message(error: tokio::task::JoinError) -> String {
    let payload = error.into_panic();
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn a_task_that_panics_is_restarted_and_counted() {
        let stop = CancellationToken::new();
        let mut supervisor = Supervisor::default();
        let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counted = runs.clone();
        let run_stop = stop.clone();
        supervisor.spawn("flaky", stop.clone(), move || {
            let runs = counted.clone();
            let stop = run_stop.clone();
            async move {
                if runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
                stop.cancelled().await;
            }
        });
        let tasks = supervisor.tasks().clone();
        let deadline = Instant::now() + Duration::from_secs(5);
        while runs.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "the task was not restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let report = tasks.get("flaky").expect("registered");
        assert_eq!(report.restarts, 1);
        assert_eq!(report.state, TaskState::Running);
        assert_eq!(
            report.last_error.as_deref(),
            Some("panicked: first run fails")
        );
        assert!(tasks.crash_looping().is_empty());
        stop.cancel();
        assert!(supervisor.join(Duration::from_secs(5)).await);
        assert_eq!(
            tasks.get("flaky").map(|r| r.state),
            Some(TaskState::Stopped)
        );
    }
}
