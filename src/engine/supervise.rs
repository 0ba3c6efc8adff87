//! One attempt from start to end: start it on the executor, enforce its timeout, obey the
//! scheduler's stop requests (terminate with grace, then kill), then check and promote its
//! outputs. Reports back to the scheduler through messages; never touches sinks.
//!
//! The scheduler polls an executor's `start` once itself ([`start_now`]): a local process
//! starts right there, and only [`supervise`] runs as a task. A start that has to wait (a batch
//! system's submission) is finished by [`start_then_watch`] on a task of its own.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};

use std::task::{Context, Poll, Waker};

use super::datasets::Promoted;
use super::executor::{AttemptSpec, BoxFuture, ExecError, Executor, ExitInfo, RunningAttempt};
use super::prepare::RunPaths;

/// What the scheduler asks of every running attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Keep running.
    No,
    /// SIGTERM the group, wait the node's grace, then SIGKILL.
    Terminate,
    /// SIGKILL now.
    Kill,
}

/// A supervisor's report.
#[derive(Debug)]
pub enum Msg {
    Started {
        node: usize,
        attempt: u32,
        pid: Option<u32>,
        job_id: Option<String>,
        at: SystemTime,
    },
    Ended(Box<Ended>),
    /// A retry's delay has passed.
    RetryDue {
        node: usize,
    },
    /// A line from the attempt's telemetry channel (or its summary, before `Ended`).
    Tool {
        node: usize,
        attempt: u32,
        item: super::tool_events::Item,
        at: SystemTime,
    },
}

/// How an attempt ended.
#[derive(Debug)]
pub struct Ended {
    pub node: usize,
    pub attempt: u32,
    /// The executor's figures, or why there are none (could not start, lost track).
    pub info: Result<ExitInfo, String>,
    pub started: Option<(Instant, SystemTime)>,
    pub ended: (Instant, SystemTime),
    /// The attempt's own timeout fired.
    pub timed_out: bool,
    /// The scheduler stopped it.
    pub stopped: bool,
    /// On a clean exit: the promoted outputs, or why they could not be.
    pub outputs: Option<Result<Promoted, String>>,
}

/// What the supervisor needs besides the prepared attempt.
pub struct Job {
    pub node: usize,
    pub attempt: u32,
    pub timeout: Option<Duration>,
    pub grace: Duration,
    pub paths: Arc<RunPaths>,
    /// The node's inputs as they were before its first attempt.
    pub inputs: Arc<[crate::engine::cache_key::FileDigest]>,
    /// An instance's index: its outputs go to `datasets/D/<index>.jsonl` (SPEC §9).
    pub instance: Option<usize>,
    /// The attempt's telemetry channel reader, finished before `Ended` is sent.
    pub events: Option<super::tool_events::Reader>,
    /// The node's datasets that are directory outputs (`dir: true`).
    pub dirs: Arc<[String]>,
}

/// An executor's `start`, owning what it needs.
pub type Starting = BoxFuture<'static, Result<Box<dyn RunningAttempt>, ExecError>>;

/// Starts the attempt on `executor`: the started attempt if that happened without waiting,
/// else the start still under way (for [`start_then_watch`]).
pub fn start_now(
    executor: &Arc<dyn Executor>,
    spec: AttemptSpec,
) -> Result<Result<Box<dyn RunningAttempt>, ExecError>, Starting> {
    let executor = Arc::clone(executor);
    let mut starting: Starting = Box::pin(async move { executor.start(spec).await });
    // Polled with a no-op waker: a start that is not ready is polled again (and registers
    // its real wake-ups) on the task that takes it over.
    let mut cx = Context::from_waker(Waker::noop());
    match starting.as_mut().poll(&mut cx) {
        Poll::Ready(result) => Ok(result),
        Poll::Pending => Err(starting),
    }
}

/// Finishes a start that had to wait, reports it, then watches the attempt.
pub async fn start_then_watch(
    starting: Starting,
    job: Job,
    outputs: Vec<(String, std::path::PathBuf)>,
    stop: watch::Receiver<Stop>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let running = match starting.await {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(Msg::Ended(Box::new(not_started(
                job.node,
                job.attempt,
                e.to_string(),
            ))));
            return;
        }
    };
    let started = running.started();
    let _ = tx.send(Msg::Started {
        node: job.node,
        attempt: job.attempt,
        pid: running.pid(),
        job_id: running.job_id(),
        at: started.1,
    });
    supervise(running, job, outputs, stop, tx).await;
}

/// The report of an attempt that could not start (not prepared, or refused by the executor).
pub fn not_started(node: usize, attempt: u32, error: String) -> Ended {
    Ended {
        node,
        attempt,
        info: Err(error),
        started: None,
        ended: (Instant::now(), SystemTime::now()),
        timed_out: false,
        stopped: false,
        outputs: None,
    }
}

/// Watches a started attempt to its end (timeout, stop requests, outputs) and reports
/// through `tx`.
pub async fn supervise(
    mut running: Box<dyn RunningAttempt>,
    mut job: Job,
    outputs: Vec<(String, std::path::PathBuf)>,
    mut stop: watch::Receiver<Stop>,
    tx: mpsc::UnboundedSender<Msg>,
) {
    let started = running.started();
    let mut timed_out = false;
    let mut stopped = false;
    // When the next escalation is due: the timeout, then the end of the grace period.
    let mut next = job
        .timeout
        .map(|t| tokio::time::Instant::from_std(started.0 + t));
    let mut terminating = false;
    let mut stop_open = true;
    let grace = job.grace;
    let apply = |s: Stop,
                 running: &mut Box<dyn RunningAttempt>,
                 terminating: &mut bool,
                 next: &mut Option<tokio::time::Instant>| match s {
        Stop::No => {}
        Stop::Terminate if !*terminating => {
            running.terminate();
            *terminating = true;
            *next = Some(tokio::time::Instant::now() + grace);
        }
        Stop::Terminate => {}
        Stop::Kill => {
            running.kill();
            *terminating = true;
            *next = None;
        }
    };
    let current = *stop.borrow_and_update();
    if current != Stop::No {
        stopped = true;
        apply(current, &mut running, &mut terminating, &mut next);
    }
    let info = loop {
        tokio::select! {
            r = running.wait() => break r,
            _ = sleep_until(next), if next.is_some() => {
                if terminating {
                    running.kill();
                    next = None;
                } else {
                    timed_out = true;
                    apply(Stop::Terminate, &mut running, &mut terminating, &mut next);
                }
            }
            changed = stop.changed(), if stop_open => {
                if changed.is_err() {
                    stop_open = false;
                } else {
                    let s = *stop.borrow_and_update();
                    stopped |= s != Stop::No;
                    apply(s, &mut running, &mut terminating, &mut next);
                }
            }
        }
    };
    let ended = (Instant::now(), SystemTime::now());
    if let Some(events) = job.events.take() {
        events.finish().await;
    }
    // A program the child could not run (not executable, a missing working directory) is
    // recorded like one the executor could not start: no start time, no duration.
    let ran = !matches!(info, Err(ExecError::Spawn { .. }));
    let info = info.map_err(|e| e.to_string());
    let clean = matches!(&info, Ok(i) if i.exit_code == Some(0)) && !timed_out && !stopped;
    let outputs = clean.then(|| {
        check_inputs(&job.inputs).and_then(|()| {
            super::dir_output::check_and_promote(&job.paths, &outputs, job.instance, &job.dirs)
        })
    });
    let _ = tx.send(Msg::Ended(Box::new(Ended {
        node: job.node,
        attempt: job.attempt,
        info,
        started: ran.then_some(started),
        ended,
        timed_out,
        stopped,
        outputs,
    })));
}

/// Fails when an attempt changed one of its inputs: a dataset is another node's record and
/// may be the cache's or an earlier run's content, never the consumer's to write.
fn check_inputs(inputs: &[crate::engine::cache_key::FileDigest]) -> Result<(), String> {
    let mut buf = Vec::new();
    let changed: Vec<&str> = inputs
        .iter()
        .filter(|d| {
            let now =
                super::dir_output::sha256_path(&d.path, &mut buf, &crate::store::cache::never);
            now.ok() != Some(d.sha256)
        })
        .map(|d| d.name.as_str())
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "input modified: the node changed its input dataset{} {} (inputs are read-only)",
        if changed.len() == 1 { "" } else { "s" },
        changed
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
