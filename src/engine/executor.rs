//! The executor contract: start an attempt, watch it (await its end), stop it, collect its
//! usage.
//!
//! The scheduler only ever talks to `dyn Executor` / `dyn RunningAttempt`, so a Slurm
//! executor (sbatch, batched squeue polling, scancel) or a Kubernetes one plugs in without
//! touching it. Grace handling (term, wait, kill) lives in the scheduler's supervisor, so every
//! executor only needs the two primitive signals.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A boxed, sendable future (what trait objects return).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything an executor needs to start one attempt; fully resolved, no templates left.
#[derive(Debug, Clone)]
pub struct AttemptSpec {
    pub node_id: String,
    /// 1-based.
    pub attempt: u32,
    /// Program and arguments; `argv[0]` is looked up in the attempt's `PATH` when it has no `/`.
    pub argv: Vec<OsString>,
    /// The complete environment: the process starts with exactly these variables.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    /// Where captured standard output and error go.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    /// Values masked as `[REDACTED]` in captured output.
    pub secrets: Arc<[Vec<u8>]>,
    /// Where a failed write of the captured output is reported at once (SPEC §10 "Records
    /// fail closed"); `None` outside a run.
    pub records: Option<Arc<crate::store::RecordHealth>>,
    /// How long processes get between SIGTERM and SIGKILL (the node's `kill_grace`): on a
    /// timeout or cancel, and for what the tool leaves running when it exits.
    pub grace: Duration,
}

/// How an attempt ended and what it cost, as the kernel reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExitInfo {
    /// The exit status when the process exited.
    pub exit_code: Option<i32>,
    /// The signal that killed it, when one did.
    pub signal: Option<i32>,
    /// CPU time of the process and its reaped descendants.
    pub cpu_user: Duration,
    pub cpu_system: Duration,
    /// Peak resident set size of the largest process of the attempt.
    pub peak_rss_bytes: Option<u64>,
    pub read_bytes: Option<u64>,
    pub write_bytes: Option<u64>,
    /// Time the attempt waited in the executor's own queue after `start` returned (a batch
    /// scheduler's pending time): counted as queue wait, not as run time.
    pub queue_wait: Option<Duration>,
    /// The executor ended the attempt at a time limit of its own (Slurm `TIMEOUT`).
    pub timed_out: bool,
    /// Processes the attempt left behind (escaped descendants, its group) that had to be
    /// ended, when the executor knows.
    pub killed_descendants: Option<u64>,
}

/// Why an executor could not start or watch an attempt. Cloneable (sources are shared), so
/// an attempt's outcome can be handed out again.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("cannot capture output to {path}: {source}")]
    Capture {
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
    #[error("lost track of the attempt: {0}")]
    Watch(String),
}

/// Runs attempts somewhere (local processes, a batch scheduler, a cluster).
pub trait Executor: Send + Sync {
    /// `local`, `slurm`, …, as recorded in run.json.
    fn name(&self) -> &'static str;
    /// Starts an attempt. Returns once it is running (or submitted).
    fn start(&self, spec: AttemptSpec)
    -> BoxFuture<'_, Result<Box<dyn RunningAttempt>, ExecError>>;
}

/// Sends each node to the executor named for it (recipe `executor:` per node), all others
/// to `default`.
pub struct ByNode {
    pub default: Arc<dyn Executor>,
    pub other: Arc<dyn Executor>,
    /// Nodes that run on `other`.
    pub other_nodes: std::collections::HashSet<String>,
}

impl Executor for ByNode {
    fn name(&self) -> &'static str {
        "mixed"
    }

    fn start(
        &self,
        spec: AttemptSpec,
    ) -> BoxFuture<'_, Result<Box<dyn RunningAttempt>, ExecError>> {
        if self.other_nodes.contains(&spec.node_id) {
            self.other.start(spec)
        } else {
            self.default.start(spec)
        }
    }
}

/// One started attempt.
pub trait RunningAttempt: Send {
    /// The local process id, when there is one.
    fn pid(&self) -> Option<u32>;
    /// The executor's job id (Slurm job id, pod name), when there is one.
    fn job_id(&self) -> Option<String>;
    /// When the attempt started (for duration figures).
    fn started(&self) -> (Instant, SystemTime);
    /// Resolves when the attempt has ended and its output is fully captured.
    /// Cancel-safe: it may be dropped and called again.
    fn wait(&mut self) -> BoxFuture<'_, Result<ExitInfo, ExecError>>;
    /// Asks the attempt to stop (SIGTERM to its process group, `scancel --signal=TERM`).
    fn terminate(&mut self);
    /// Stops it now (SIGKILL to its process group, `scancel`).
    fn kill(&mut self);
}
