//! Slurm: everything secflow needs to run an attempt as a Slurm batch job.
//!
//! - [`submit`] writes the attempt's job script and environment file into the attempt's
//!   directory (created before submission) and runs `sbatch --parsable`;
//! - [`poll`] watches every job of a run with ONE `squeue` call per interval, falling back
//!   to `sacct -c` (the jobcomp/filetxt log) for jobs `squeue` no longer lists, and maps
//!   Slurm's terminal states onto secflow's ([`state`]);
//! - [`cancel`] runs `scancel` for one job or all of a run's jobs;
//! - [`wrapper`] is `secflow job-wrapper`, which runs the command inside the job, reaps it
//!   with `wait4` and writes its [`usage`] (wall, CPU, peak RSS, exit status) beside the
//!   output, so a Slurm attempt reports the same figures as a local one.
//!
//! Guarantees: every Slurm client command runs with a timeout and is killed when it
//! expires, so an unreachable controller is an error ([`SlurmError`]), never a hang. Nothing
//! here prints: callers get values and errors.
//!
//! The environment reaches the job through a file, not through Slurm: `sbatch` itself runs
//! with a small curated environment (see [`ClientEnv`]) so secrets never enter slurmctld's
//! job records, and the wrapper starts the command with exactly the attempt's environment
//! read from `<attempt dir>/job.env` (0600, deleted once read), plus the `SLURM_*` variables
//! of the job (`SLURM_JOB_ID`, `SLURM_CPUS_ON_NODE`, …) that the attempt does not set itself.

pub mod cancel;
pub mod command;
pub mod executor;
pub mod poll;
pub mod state;
pub mod submit;
pub mod usage;
pub mod wrapper;

use std::ffi::OsString;
use std::time::Duration;

pub use cancel::{cancel_all, cancel_job};
pub use command::ClientEnv;
pub use poll::{JobResult, Poller, PollerConfig};
pub use state::{JobState, Outcome};
pub use submit::{JobSpec, SubmittedJob, submit};
pub use usage::Usage;

/// Why a Slurm operation failed. Messages are lowercase and say which command and why.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("cannot run `{program}` (is Slurm installed and on PATH?): {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` did not answer within {}s: is slurmctld reachable?", after.as_secs_f64())]
    Timeout { program: String, after: Duration },
    #[error("slurm controller unreachable (`{program}`): {message}")]
    Unreachable { program: String, message: String },
    #[error("`{program}` failed ({status}): {message}")]
    Rejected {
        program: String,
        status: String,
        message: String,
    },
    #[error("`{program}` printed something unexpected: {output:?}")]
    Parse { program: String, output: String },
    #[error("cannot prepare the job in {path}: {source}")]
    Prepare {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("working directory {0} does not exist (Slurm would silently run the job in /tmp)")]
    NoWorkdir(String),
    #[error("job {job_id} vanished: neither squeue nor sacct -c knows it any more")]
    Vanished { job_id: String },
    #[error("stopped watching job {job_id}: {message}")]
    Lost { job_id: String, message: String },
}

/// The Slurm client programs, by name (looked up in `PATH`) or absolute path.
#[derive(Debug, Clone)]
pub struct Tools {
    pub sbatch: OsString,
    pub squeue: OsString,
    pub scancel: OsString,
    pub sacct: OsString,
    pub scontrol: OsString,
}

impl Default for Tools {
    fn default() -> Self {
        Tools {
            sbatch: "sbatch".into(),
            squeue: "squeue".into(),
            scancel: "scancel".into(),
            sacct: "sacct".into(),
            scontrol: "scontrol".into(),
        }
    }
}

/// How secflow talks to Slurm: which programs, with which environment, how patiently.
#[derive(Debug, Clone)]
pub struct Client {
    pub tools: Tools,
    pub env: ClientEnv,
    /// Longest any one client command may take before it is killed and reported. A client
    /// facing a dead controller gives up by itself after about 9 s (sbatch) or 18 s
    /// (squeue) with "Unable to contact slurm controller"; the default leaves room for that
    /// clearer message.
    pub command_timeout: Duration,
}

impl Client {
    /// Default tools on `PATH`, secflow's own environment curated, 25 s per command.
    pub fn from_env() -> Self {
        Client {
            tools: Tools::default(),
            env: ClientEnv::from_process(),
            command_timeout: Duration::from_secs(25),
        }
    }
}
