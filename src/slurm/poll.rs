//! The poller: one background task that watches every job of a run with ONE `squeue` call
//! per interval (`squeue -h -t all -j id1,id2,… -o '%i|%T|%r'`), whatever the number of
//! jobs, and never calls anything while no job is watched.
//!
//! A job `squeue` no longer lists (its record was purged after `MinJobAge`) is looked up,
//! together with every other such job, in one `sacct -c` call (the jobcomp/filetxt log —
//! the only accounting there is without slurmdbd). A job both have forgotten for longer than
//! [`PollerConfig::vanish_after`] fails with [`SlurmError::Vanished`]. When the controller
//! stays unreachable for [`PollerConfig::unreachable_grace`], every watched job fails with
//! that error: a dead controller is never a hang.
//!
//! When a job ends, its figures come from the wrapper's usage file (exit status, CPU, peak
//! RSS, and the moment the command started, which gives the queue wait); only a FAILED job
//! without one (it never launched, or was SIGKILLed) costs one extra `scontrol show job`
//! for Slurm's `ExitCode` and `Reason`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, oneshot};

use super::state::{self, JobState, Outcome, parse_exit_code};
use super::submit::SubmittedJob;
use super::usage::Usage;
use super::{Client, SlurmError, cancel, command};

/// How the poller paces itself.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Time between two `squeue` calls (Slurm schedules batch jobs about once a second at
    /// best, so sub-second intervals buy little).
    pub interval: Duration,
    /// How long the controller may fail to answer before every watched job fails.
    pub unreachable_grace: Duration,
    /// How long a job may be missing from both `squeue` and `sacct -c`.
    pub vanish_after: Duration,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            interval: Duration::from_millis(500),
            unreachable_grace: Duration::from_secs(60),
            vanish_after: Duration::from_secs(30),
        }
    }
}

/// A finished job, in secflow's terms.
#[derive(Debug, Clone)]
pub struct JobResult {
    pub job_id: String,
    /// The terminal Slurm state.
    pub state: JobState,
    pub outcome: Outcome,
    /// What the wrapper measured; None when the command never ran to the end.
    pub usage: Option<Usage>,
    /// Time pending in Slurm: from submission until the command started (or, for a job
    /// that never ran, until it ended).
    pub queue_wait: Duration,
    /// When the command started and ended (the wrapper's clock when it wrote a usage file).
    pub started_at: Option<SystemTime>,
    pub ended_at: SystemTime,
    /// Slurm's last `Reason` (e.g. `NonZeroExitCode`, `JobLaunchFailure`), when known.
    pub slurm_reason: Option<String>,
}

/// Resolves when a watched job ends.
#[derive(Debug)]
pub struct JobWatch {
    pub job_id: String,
    rx: oneshot::Receiver<Result<JobResult, SlurmError>>,
}

impl JobWatch {
    /// Waits for the job's end. Cancel-safe: may be dropped and awaited again.
    pub async fn wait(&mut self) -> Result<JobResult, SlurmError> {
        match (&mut self.rx).await {
            Ok(result) => result,
            Err(_) => Err(SlurmError::Lost {
                job_id: self.job_id.clone(),
                message: "the poller stopped".into(),
            }),
        }
    }
}

/// Slurm's `ExitCode=code:signal`, parsed.
type ExitStatus = (Option<i32>, Option<i32>);

struct Watched {
    job: SubmittedJob,
    first_running: Option<SystemTime>,
    last_state: Option<JobState>,
    last_reason: Option<String>,
    missing_since: Option<Instant>,
    tx: oneshot::Sender<Result<JobResult, SlurmError>>,
}

struct Shared {
    client: Client,
    config: PollerConfig,
    jobs: Mutex<BTreeMap<String, Watched>>,
    wake: Notify,
}

impl Shared {
    fn jobs(&self) -> MutexGuard<'_, BTreeMap<String, Watched>> {
        // A panic while holding this lock cannot leave the map inconsistent (plain
        // inserts/removes), so a poisoned lock is still usable.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Watches the jobs of one run. Dropping it stops the task and cancels every job still
/// watched (best effort, bounded by the client's command timeout).
pub struct Poller {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Poller {
    /// Starts the polling task on the current tokio runtime.
    pub fn start(client: Client, config: PollerConfig) -> Poller {
        let shared = Arc::new(Shared {
            client,
            config,
            jobs: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        });
        let task = tokio::spawn(poll_loop(Arc::clone(&shared)));
        Poller { shared, task }
    }

    /// Starts watching a submitted job.
    pub fn watch(&self, job: SubmittedJob) -> JobWatch {
        let (tx, rx) = oneshot::channel();
        let job_id = job.job_id.clone();
        self.shared.jobs().insert(
            job_id.clone(),
            Watched {
                job,
                first_running: None,
                last_state: None,
                last_reason: None,
                missing_since: None,
                tx,
            },
        );
        self.shared.wake.notify_one();
        JobWatch { job_id, rx }
    }

    /// The ids of the jobs still watched (not yet ended).
    pub fn job_ids(&self) -> Vec<String> {
        self.shared.jobs().keys().cloned().collect()
    }

    /// The last state seen for a watched job.
    pub fn last_state(&self, job_id: &str) -> Option<JobState> {
        self.shared
            .jobs()
            .get(job_id)
            .and_then(|w| w.last_state.clone())
    }

    /// Cancels every job still watched, in one `scancel` call; each then ends `CANCELLED`
    /// and its watch resolves.
    pub async fn cancel_all(&self) -> Result<(), SlurmError> {
        let ids = self.job_ids();
        cancel::cancel_all(&self.shared.client, &ids).await
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
        let ids = self.job_ids();
        if !ids.is_empty() {
            let timeout = self.shared.client.command_timeout;
            let _ = cancel::cancel_all_blocking(&self.shared.client, &ids, timeout);
        }
    }
}

async fn poll_loop(shared: Arc<Shared>) {
    let mut failing_since: Option<Instant> = None;
    loop {
        let ids: Vec<String> = shared.jobs().keys().cloned().collect();
        if ids.is_empty() {
            failing_since = None;
            shared.wake.notified().await;
            continue;
        }
        match poll_once(&shared, &ids).await {
            Ok(()) => failing_since = None,
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= shared.config.unreachable_grace {
                    let message = e.to_string();
                    let failed: Vec<Watched> = {
                        let mut jobs = shared.jobs();
                        ids.iter().filter_map(|id| jobs.remove(id)).collect()
                    };
                    for w in failed {
                        let _ = w.tx.send(Err(SlurmError::Lost {
                            job_id: w.job.job_id.clone(),
                            message: message.clone(),
                        }));
                    }
                    failing_since = None;
                }
            }
        }
        tokio::time::sleep(shared.config.interval).await;
    }
}

/// One `squeue` for all `ids`, then one `sacct -c` for those it did not list.
async fn poll_once(shared: &Shared, ids: &[String]) -> Result<(), SlurmError> {
    let client = &shared.client;
    let args: Vec<OsString> = vec![
        "-h".into(),
        "-t".into(),
        "all".into(),
        "-j".into(),
        ids.join(",").into(),
        "-o".into(),
        "%i|%T|%r".into(),
    ];
    let out = command::run(client, &client.tools.squeue, &args).await?;
    let mut seen: BTreeMap<&str, (JobState, Option<String>)> = BTreeMap::new();
    for line in out.stdout.lines() {
        let mut f = line.trim().splitn(3, '|');
        let (Some(id), Some(st)) = (f.next(), f.next()) else {
            continue;
        };
        let reason = f.next().filter(|r| !r.is_empty() && *r != "None");
        seen.insert(id, (JobState::parse(st), reason.map(str::to_string)));
    }
    let now = SystemTime::now();
    let mut ended: Vec<(String, JobState, Option<ExitStatus>)> = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    {
        let mut jobs = shared.jobs();
        for id in ids {
            let Some(w) = jobs.get_mut(id) else { continue };
            match seen.get(id.as_str()) {
                Some((st, reason)) => {
                    w.missing_since = None;
                    if reason.is_some() {
                        w.last_reason.clone_from(reason);
                    }
                    if !st.is_pending() && w.first_running.is_none() {
                        w.first_running = Some(now);
                    }
                    w.last_state = Some(st.clone());
                    if st.is_terminal() {
                        ended.push((id.clone(), st.clone(), None));
                    }
                }
                None => missing.push(id.clone()),
            }
        }
    }
    if !missing.is_empty() {
        let found = sacct_lookup(client, &missing).await.unwrap_or_default();
        let mut jobs = shared.jobs();
        for id in &missing {
            if let Some((st, exit)) = found.get(id.as_str())
                && st.is_terminal()
            {
                ended.push((id.clone(), st.clone(), Some(*exit)));
                continue;
            }
            if let Some(w) = jobs.get_mut(id) {
                let since = *w.missing_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= shared.config.vanish_after
                    && let Some(w) = jobs.remove(id)
                {
                    let _ = w.tx.send(Err(SlurmError::Vanished { job_id: id.clone() }));
                }
            }
        }
    }
    for (id, st, exit) in ended {
        let Some(w) = shared.jobs().remove(&id) else {
            continue;
        };
        let result = finish(client, w.job.clone(), &w, st, exit).await;
        let _ = w.tx.send(Ok(result));
    }
    Ok(())
}

/// `sacct -c -P -n -j ids -o jobid,state,exitcode`: the states the jobcomp log recorded.
async fn sacct_lookup(
    client: &Client,
    ids: &[String],
) -> Result<BTreeMap<String, (JobState, ExitStatus)>, SlurmError> {
    let args: Vec<OsString> = vec![
        "-c".into(),
        "-P".into(),
        "-n".into(),
        "-j".into(),
        ids.join(",").into(),
        "-o".into(),
        "jobid,state,exitcode".into(),
    ];
    let out = command::run(client, &client.tools.sacct, &args).await?;
    let mut found = BTreeMap::new();
    for line in out.stdout.lines() {
        let f: Vec<&str> = line.trim().split('|').collect();
        if let [id, st, exit, ..] = f.as_slice() {
            // A later line (a requeued job) wins.
            found.insert(id.to_string(), (JobState::parse(st), parse_exit_code(exit)));
        }
    }
    Ok(found)
}

/// `scontrol show job -o ID`: Slurm's `ExitCode` and `Reason` for one job.
async fn scontrol_exit(client: &Client, job_id: &str) -> Option<(ExitStatus, String)> {
    let args: Vec<OsString> = vec!["show".into(), "job".into(), "-o".into(), job_id.into()];
    let out = command::run(client, &client.tools.scontrol, &args)
        .await
        .ok()?;
    let field = |name: &str| {
        out.stdout
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .map(str::to_string)
    };
    let exit = parse_exit_code(&field("ExitCode=")?);
    Some((exit, field("Reason=").unwrap_or_default()))
}

/// The wrapper's usage file. On a shared filesystem (NFS attribute caching) a file written
/// on the compute node can take a moment to appear here, so a job that ran gets up to a
/// second of grace.
async fn read_usage(job: &SubmittedJob, ran: bool) -> Option<Usage> {
    let tries = if ran { 10 } else { 1 };
    for i in 0..tries {
        if let Ok(u) = Usage::read(&job.usage_path) {
            return Some(u);
        }
        if i + 1 < tries {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    None
}

async fn finish(
    client: &Client,
    job: SubmittedJob,
    w: &Watched,
    st: JobState,
    exit: Option<ExitStatus>,
) -> JobResult {
    let ended_at = SystemTime::now();
    // The env file is deleted by the wrapper; a job that never ran leaves it behind.
    let _ = std::fs::remove_file(&job.env_path);
    let usage = read_usage(&job, w.first_running.is_some() && st != JobState::Cancelled).await;
    let mut reason = w.last_reason.clone();
    let (exit_code, signal) = match &usage {
        Some(u) => (u.exit_code, u.signal),
        None => {
            let exit = match exit {
                Some(e) => Some(e),
                None if st == JobState::Failed => {
                    scontrol_exit(client, &job.job_id).await.map(|(e, r)| {
                        if !r.is_empty() && r != "None" {
                            reason = Some(r);
                        }
                        e
                    })
                }
                None => None,
            };
            exit.unwrap_or((None, None))
        }
    };
    let mut outcome = state::outcome(&st, exit_code, signal);
    if usage.is_none() && st == JobState::Failed {
        outcome.cluster_fault = true;
        outcome.reason = Some(format!(
            "slurm job {} FAILED before the command finished (reason {})",
            job.job_id,
            reason.as_deref().unwrap_or("unknown")
        ));
    }
    let started_at = match &usage {
        Some(u) => Some(SystemTime::UNIX_EPOCH + Duration::from_millis(u.started_unix_ms)),
        None => w.first_running,
    };
    let queue_wait = started_at
        .unwrap_or(ended_at)
        .duration_since(job.submitted_at)
        .unwrap_or_default();
    JobResult {
        job_id: job.job_id,
        state: st,
        outcome,
        usage,
        queue_wait,
        started_at,
        ended_at,
        slurm_reason: reason,
    }
}
