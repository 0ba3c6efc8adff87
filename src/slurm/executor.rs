//! The Slurm executor: the engine's [`Executor`] contract on a Slurm cluster.
//!
//! - start = [`submit`] (`sbatch --parsable`, job name = node id, output into the attempt's
//!   directory, the attempt's environment through `job.env`), then [`Poller::watch`];
//! - watch = the run's one [`Poller`] (one `squeue` per interval for every job);
//! - stop = `scancel`, batched: every terminate/kill request that arrives while one
//!   `scancel` runs goes into the next call, so cancelling a run of N jobs costs a handful
//!   of calls, not N. Terminate signals a running job (`scancel --full --signal=TERM`, so
//!   the node's grace applies) and cancels a pending one; kill sends SIGKILL and cancels;
//! - usage = the wrapper's usage file (wall, CPU, peak RSS, I/O, exit status, via `wait4`).
//!
//! Slurm writes the job's stdout/stderr straight into the attempt's log files; when the run
//! declares secrets, both files are rewritten through the engine's [`Masker`] as soon as
//! the job ends (before `wait` resolves), so what the run leaves behind is masked. (While
//! the job runs, the files on the cluster's filesystem are not.)
//!
//! Dropping the executor cancels every job still watched, so no job of the run outlives it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::cancel;
use super::poll::JobWatch;
use super::{Client, JobResult, JobSpec, Poller, PollerConfig, submit};
use crate::engine::capture::Masker;
use crate::engine::executor::{
    AttemptSpec, BoxFuture, ExecError, Executor, ExitInfo, RunningAttempt,
};
use crate::plan::{Plan, SlurmOptions};
use crate::store::NodeStatus;

/// Default time between two `squeue` calls when no node sets `slurm.poll_interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Everything the Slurm executor needs, fixed for a run.
#[derive(Debug, Clone)]
pub struct SlurmExecutorConfig {
    pub client: Client,
    /// The secflow binary jobs run as `secflow job-wrapper` (on a shared filesystem).
    pub wrapper_exe: PathBuf,
    pub poller: PollerConfig,
    /// Each node's Slurm options (workflow's, overridden per node); others get defaults.
    pub node_options: HashMap<String, SlurmOptions>,
    /// `sbatch --comment`, e.g. `secflow run <run id>`.
    pub comment: Option<String>,
}

impl SlurmExecutorConfig {
    /// The configuration for running `plan` as run `run_id`: this very binary as the
    /// wrapper, the Slurm client tools on `PATH` with secflow's curated environment, each
    /// node's options, and the smallest `slurm.poll_interval` any node asks for.
    pub fn for_plan(plan: &Plan, run_id: &str) -> std::io::Result<Self> {
        let interval = plan
            .nodes
            .iter()
            .filter_map(|n| n.slurm.poll_interval)
            .min()
            .unwrap_or(DEFAULT_POLL_INTERVAL);
        Ok(SlurmExecutorConfig {
            client: Client::from_env(),
            wrapper_exe: std::env::current_exe()?,
            poller: PollerConfig {
                interval,
                ..PollerConfig::default()
            },
            node_options: plan
                .nodes
                .iter()
                .map(|n| (n.id.clone(), SlurmOptions::clone(&n.slurm)))
                .collect(),
            comment: Some(format!("secflow run {run_id}")),
        })
    }
}

/// Runs attempts as Slurm batch jobs.
pub struct SlurmExecutor {
    config: SlurmExecutorConfig,
    /// Started with the first attempt (it needs the tokio runtime).
    shared: OnceLock<Shared>,
}

struct Shared {
    poller: Arc<Poller>,
    stops: mpsc::UnboundedSender<StopRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopKind {
    Terminate,
    Kill,
}

#[derive(Debug)]
struct StopRequest {
    job_id: String,
    kind: StopKind,
}

impl SlurmExecutor {
    pub fn new(config: SlurmExecutorConfig) -> Self {
        SlurmExecutor {
            config,
            shared: OnceLock::new(),
        }
    }

    fn shared(&self) -> &Shared {
        self.shared.get_or_init(|| {
            let poller = Arc::new(Poller::start(
                self.config.client.clone(),
                self.config.poller.clone(),
            ));
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(stop_loop(
                self.config.client.clone(),
                Arc::downgrade(&poller),
                rx,
            ));
            Shared { poller, stops: tx }
        })
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn start(
        &self,
        spec: AttemptSpec,
    ) -> BoxFuture<'_, Result<Box<dyn RunningAttempt>, ExecError>> {
        Box::pin(async move {
            let spec_secrets = Arc::clone(&spec.secrets);
            let attempt_dir = spec
                .stdout_path
                .parent()
                .map(PathBuf::from)
                .unwrap_or_else(|| spec.cwd.clone());
            let job = JobSpec {
                options: self
                    .config
                    .node_options
                    .get(&spec.node_id)
                    .cloned()
                    .unwrap_or_default(),
                name: spec.node_id,
                argv: spec.argv,
                env: spec.env,
                cwd: spec.cwd,
                attempt_dir,
                stdout_path: spec.stdout_path,
                stderr_path: spec.stderr_path,
                comment: self.config.comment.clone(),
            };
            let shared = self.shared();
            let submitted = submit(&self.config.client, &self.config.wrapper_exe, &job)
                .await
                .map_err(|e| ExecError::Watch(e.to_string()))?;
            let started = (submitted.submitted, submitted.submitted_at);
            let logs = [job.stdout_path.clone(), job.stderr_path.clone()];
            let job_id = submitted.job_id.clone();
            let watch = shared.poller.watch(submitted);
            Ok(Box::new(SlurmAttempt {
                job_id,
                started,
                watch,
                stops: shared.stops.clone(),
                secrets: spec_secrets,
                logs,
                done: None,
            }) as Box<dyn RunningAttempt>)
        })
    }
}

struct SlurmAttempt {
    job_id: String,
    started: (Instant, SystemTime),
    watch: JobWatch,
    stops: mpsc::UnboundedSender<StopRequest>,
    secrets: Arc<[Vec<u8>]>,
    /// stdout.log and stderr.log, masked once the job ends.
    logs: [PathBuf; 2],
    done: Option<Result<ExitInfo, String>>,
}

impl SlurmAttempt {
    fn stop(&self, kind: StopKind) {
        let _ = self.stops.send(StopRequest {
            job_id: self.job_id.clone(),
            kind,
        });
    }
}

impl RunningAttempt for SlurmAttempt {
    fn pid(&self) -> Option<u32> {
        None
    }

    fn job_id(&self) -> Option<String> {
        Some(self.job_id.clone())
    }

    fn started(&self) -> (Instant, SystemTime) {
        self.started
    }

    fn wait(&mut self) -> BoxFuture<'_, Result<ExitInfo, ExecError>> {
        Box::pin(async move {
            if self.done.is_none() {
                let result = self.watch.wait().await.map_err(|e| e.to_string());
                let mut result = result.and_then(exit_info);
                if self.secrets.iter().any(|s| !s.is_empty()) {
                    let (secrets, logs) = (Arc::clone(&self.secrets), self.logs.clone());
                    let masked = tokio::task::spawn_blocking(move || {
                        logs.iter().try_for_each(|p| mask_file(p, &secrets))
                    })
                    .await;
                    if let Ok(Err(e)) | Err(e) = masked.map_err(std::io::Error::other) {
                        result = Err(format!("cannot mask secrets in the job's output: {e}"));
                    }
                }
                self.done = Some(result);
            }
            match &self.done {
                Some(Ok(info)) => Ok(info.clone()),
                Some(Err(msg)) => Err(ExecError::Watch(msg.clone())),
                None => Err(ExecError::Watch("no result".into())),
            }
        })
    }

    fn terminate(&mut self) {
        self.stop(StopKind::Terminate);
    }

    fn kill(&mut self) {
        self.stop(StopKind::Kill);
    }
}

/// What the engine gets for a finished job. A job that ran its command reports the
/// command's own exit status and usage; a job Slurm ended for reasons of its own (time
/// limit, node failure, out of memory, launch failure) is an error naming the reason.
fn exit_info(r: JobResult) -> Result<ExitInfo, String> {
    let o = &r.outcome;
    let from_usage = |signal: Option<i32>| {
        let u = r.usage.as_ref();
        ExitInfo {
            exit_code: u.and_then(|u| u.exit_code).or(o.exit_code),
            signal: u.map_or(signal, |u| u.signal),
            cpu_user: Duration::from_millis(u.map_or(0, |u| u.cpu_user_ms)),
            cpu_system: Duration::from_millis(u.map_or(0, |u| u.cpu_system_ms)),
            peak_rss_bytes: u.map(|u| u.peak_rss_bytes),
            read_bytes: u.map(|u| u.read_bytes),
            write_bytes: u.map(|u| u.write_bytes),
            queue_wait: Some(r.queue_wait),
            timed_out: false,
            killed_descendants: u.and_then(|u| u.killed_descendants),
        }
    };
    match o.status {
        NodeStatus::Succeeded => Ok(from_usage(None)),
        NodeStatus::Cancelled => {
            // Cancelled before or while running: without a usage file, say how it ended.
            let mut info = from_usage(Some(libc::SIGTERM));
            if info.exit_code.is_none() && info.signal.is_none() {
                info.signal = Some(libc::SIGTERM);
            }
            Ok(info)
        }
        NodeStatus::Failed if !o.cluster_fault && r.usage.is_some() => Ok(from_usage(None)),
        // Slurm's own time limit (`slurm.time`): SIGTERM, then SIGKILL after KillWait.
        NodeStatus::TimedOut => Ok(ExitInfo {
            timed_out: true,
            ..from_usage(Some(libc::SIGTERM))
        }),
        _ => Err(format!(
            "slurm job {}: {}",
            r.job_id,
            o.reason
                .clone()
                .unwrap_or_else(|| format!("ended {}", r.state.as_str()))
        )),
    }
}

/// Rewrites `path` with every secret masked (streaming, bounded memory; temp file +
/// rename). A missing file is fine (the job never started).
fn mask_file(path: &std::path::Path, secrets: &Arc<[Vec<u8>]>) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut input = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut tmp_path = path.as_os_str().to_owned();
    tmp_path.push(".masking");
    let tmp_path = PathBuf::from(tmp_path);
    let mut output = std::io::BufWriter::new(std::fs::File::create(&tmp_path)?);
    let mut masker = Masker::new(Arc::clone(secrets));
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = input.read(&mut buf)?;
        out.clear();
        if n == 0 {
            masker.finish(&mut out);
            output.write_all(&out)?;
            break;
        }
        masker.feed(&buf[..n], &mut out);
        output.write_all(&out)?;
    }
    output.flush()?;
    drop(output);
    std::fs::rename(&tmp_path, path)
}

/// Runs the `scancel` calls for terminate/kill requests, batching those that queue up.
async fn stop_loop(
    client: Client,
    poller: std::sync::Weak<Poller>,
    mut rx: mpsc::UnboundedReceiver<StopRequest>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let ids = |kind: StopKind, want_pending: Option<bool>| -> Vec<String> {
            let mut ids: Vec<String> = batch
                .iter()
                .filter(|r| r.kind == kind)
                .filter(|r| match (want_pending, poller.upgrade()) {
                    (None, _) => true,
                    (Some(p), Some(poller)) => {
                        let pending = poller.last_state(&r.job_id).is_none_or(|s| s.is_pending());
                        pending == p
                    }
                    (Some(p), None) => p,
                })
                .map(|r| r.job_id.clone())
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        // Running jobs get the signal, so the node's own grace applies; Slurm refuses to
        // signal a pending job, which is simply cancelled.
        let term = ids(StopKind::Terminate, Some(false));
        if !term.is_empty() && cancel::signal_all(&client, &term, "TERM").await.is_err() {
            let _ = cancel::cancel_all(&client, &term).await;
        }
        let mut plain = ids(StopKind::Terminate, Some(true));
        let kill = ids(StopKind::Kill, None);
        if !kill.is_empty() {
            let _ = cancel::signal_all(&client, &kill, "KILL").await;
            plain.extend(kill);
        }
        if !plain.is_empty() {
            let _ = cancel::cancel_all(&client, &plain).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::state::{JobState, outcome};
    use crate::slurm::usage::Usage;

    fn result(state: &str, usage: Option<Usage>, exit: (Option<i32>, Option<i32>)) -> JobResult {
        let state = JobState::parse(state);
        JobResult {
            job_id: "7".into(),
            outcome: outcome(&state, exit.0, exit.1),
            state,
            usage,
            queue_wait: Duration::ZERO,
            started_at: None,
            ended_at: SystemTime::now(),
            slurm_reason: None,
        }
    }

    #[test]
    fn jobs_map_onto_exit_info() {
        let usage = Usage {
            exit_code: Some(3),
            cpu_user_ms: 40,
            peak_rss_bytes: 4096,
            ..Usage::default()
        };
        let info = exit_info(result("FAILED", Some(usage), (Some(3), None))).unwrap();
        assert_eq!(info.exit_code, Some(3));
        assert_eq!(info.cpu_user, Duration::from_millis(40));
        assert_eq!(info.peak_rss_bytes, Some(4096));

        // Cancelled while pending: no usage, ended by scancel's SIGTERM.
        let info = exit_info(result("CANCELLED", None, (None, None))).unwrap();
        assert_eq!((info.exit_code, info.signal), (None, Some(libc::SIGTERM)));
        assert_eq!(info.peak_rss_bytes, None);

        let info = exit_info(result("TIMEOUT", None, (None, None))).unwrap();
        assert!(info.timed_out);
        assert_eq!(info.queue_wait, Some(Duration::ZERO));

        for state in ["NODE_FAIL", "OUT_OF_MEMORY"] {
            let err = exit_info(result(state, None, (None, None))).unwrap_err();
            assert!(err.contains("slurm job 7") && err.contains(state), "{err}");
        }
    }
}
