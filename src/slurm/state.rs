//! Slurm job states and what they mean for secflow: a pure mapping, no I/O.
//!
//! COMPLETED → succeeded; FAILED → failed with the exit code; TIMEOUT → timed out;
//! CANCELLED → cancelled; OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL, PREEMPTED → failed and
//! retryable (the cluster's fault, not the command's); DEADLINE → timed out.

use crate::plan::FailureKind;
use crate::store::NodeStatus;

/// A job state as `squeue -o %T`, `scontrol` (`JobState=`) or `sacct -c` print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    Requeued,
    Completed,
    Failed,
    Timeout,
    Cancelled,
    OutOfMemory,
    NodeFail,
    BootFail,
    Preempted,
    Deadline,
    /// Any other word (newer Slurm versions add states); treated as still active.
    Other(String),
}

impl JobState {
    /// Parses a state word; `sacct` prints `CANCELLED by 0`, so only the first word counts.
    pub fn parse(s: &str) -> JobState {
        let word = s.split_whitespace().next().unwrap_or("");
        match word {
            "PENDING" | "PD" => JobState::Pending,
            "CONFIGURING" | "CF" => JobState::Configuring,
            "RUNNING" | "R" => JobState::Running,
            "COMPLETING" | "CG" => JobState::Completing,
            "SUSPENDED" | "S" => JobState::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_FED" | "REQUEUE_HOLD" => JobState::Requeued,
            "COMPLETED" | "CD" => JobState::Completed,
            "FAILED" | "F" => JobState::Failed,
            "TIMEOUT" | "TO" => JobState::Timeout,
            "CANCELLED" | "CA" => JobState::Cancelled,
            "OUT_OF_MEMORY" | "OOM" => JobState::OutOfMemory,
            "NODE_FAIL" | "NF" => JobState::NodeFail,
            "BOOT_FAIL" | "BF" => JobState::BootFail,
            "PREEMPTED" | "PR" => JobState::Preempted,
            "DEADLINE" | "DL" => JobState::Deadline,
            other => JobState::Other(other.to_string()),
        }
    }

    /// Whether the job has ended for good.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::Failed
                | JobState::Timeout
                | JobState::Cancelled
                | JobState::OutOfMemory
                | JobState::NodeFail
                | JobState::BootFail
                | JobState::Preempted
                | JobState::Deadline
        )
    }

    /// Whether the job has not started running yet (its time counts as queue wait).
    pub fn is_pending(&self) -> bool {
        matches!(self, JobState::Pending | JobState::Requeued)
    }

    /// The word Slurm uses.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Configuring => "CONFIGURING",
            JobState::Running => "RUNNING",
            JobState::Completing => "COMPLETING",
            JobState::Suspended => "SUSPENDED",
            JobState::Requeued => "REQUEUED",
            JobState::Completed => "COMPLETED",
            JobState::Failed => "FAILED",
            JobState::Timeout => "TIMEOUT",
            JobState::Cancelled => "CANCELLED",
            JobState::OutOfMemory => "OUT_OF_MEMORY",
            JobState::NodeFail => "NODE_FAIL",
            JobState::BootFail => "BOOT_FAIL",
            JobState::Preempted => "PREEMPTED",
            JobState::Deadline => "DEADLINE",
            JobState::Other(s) => s,
        }
    }
}

/// How a job ended, in secflow's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `succeeded`, `failed`, `timed_out` or `cancelled`.
    pub status: NodeStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// What to match `retry_on` against; None for a success.
    pub failure: Option<FailureKind>,
    /// The cluster failed, not the command (OOM kill, node failure): worth another attempt
    /// whatever the exit code says.
    pub cluster_fault: bool,
    /// A one-line explanation for a failure (`slurm state NODE_FAIL`, `exit code 3`).
    pub reason: Option<String>,
}

/// Maps a terminal state and the best-known exit status onto an [`Outcome`]. `exit_code`
/// and `signal` come from the wrapper's usage file when it exists, else from Slurm's
/// `ExitCode=code:signal`.
pub fn outcome(state: &JobState, exit_code: Option<i32>, signal: Option<i32>) -> Outcome {
    let fail = |failure: FailureKind, cluster_fault: bool, reason: String| Outcome {
        status: NodeStatus::Failed,
        exit_code,
        signal,
        failure: Some(failure),
        cluster_fault,
        reason: Some(reason),
    };
    match state {
        JobState::Completed => Outcome {
            status: NodeStatus::Succeeded,
            exit_code: Some(exit_code.unwrap_or(0)),
            signal: None,
            failure: None,
            cluster_fault: false,
            reason: None,
        },
        JobState::Failed => match (exit_code, signal) {
            (_, Some(sig)) if sig != 0 => fail(
                FailureKind::Signal(sig),
                false,
                format!("killed by signal {sig}"),
            ),
            (Some(code), _) if code != 0 => {
                fail(FailureKind::Exit(code), false, format!("exit code {code}"))
            }
            _ => fail(
                FailureKind::Other,
                true,
                "slurm state FAILED without an exit status (the job did not launch)".into(),
            ),
        },
        JobState::Timeout | JobState::Deadline => Outcome {
            status: NodeStatus::TimedOut,
            exit_code,
            signal,
            failure: Some(FailureKind::Timeout),
            cluster_fault: false,
            reason: Some(format!("slurm state {} (time limit)", state.as_str())),
        },
        JobState::Cancelled => Outcome {
            status: NodeStatus::Cancelled,
            exit_code,
            signal,
            failure: Some(FailureKind::Signal(signal.unwrap_or(libc::SIGTERM))),
            cluster_fault: false,
            reason: Some("slurm job cancelled".into()),
        },
        JobState::OutOfMemory => fail(
            FailureKind::Signal(libc::SIGKILL),
            true,
            "slurm state OUT_OF_MEMORY (memory limit exceeded)".into(),
        ),
        other => fail(
            FailureKind::Other,
            true,
            format!("slurm state {}", other.as_str()),
        ),
    }
}

/// Parses Slurm's `ExitCode=code:signal` (or `sacct`'s `code:signal`).
pub fn parse_exit_code(s: &str) -> (Option<i32>, Option<i32>) {
    let mut it = s.trim().splitn(2, ':');
    let code = it.next().and_then(|c| c.parse().ok());
    let sig = it.next().and_then(|c| c.parse().ok()).filter(|s| *s != 0);
    (code, sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_map_onto_secflow_statuses() {
        let o = outcome(&JobState::parse("COMPLETED"), Some(0), None);
        assert_eq!(o.status, NodeStatus::Succeeded);
        assert_eq!(o.failure, None);

        let o = outcome(&JobState::parse("FAILED"), Some(3), None);
        assert_eq!(o.status, NodeStatus::Failed);
        assert_eq!(o.failure, Some(FailureKind::Exit(3)));
        assert!(!o.cluster_fault);

        let o = outcome(&JobState::parse("TIMEOUT"), Some(0), Some(9));
        assert_eq!(o.status, NodeStatus::TimedOut);
        assert_eq!(o.failure, Some(FailureKind::Timeout));

        let o = outcome(&JobState::parse("CANCELLED by 0"), None, None);
        assert_eq!(o.status, NodeStatus::Cancelled);

        for s in ["OUT_OF_MEMORY", "NODE_FAIL"] {
            let o = outcome(&JobState::parse(s), None, None);
            assert_eq!(o.status, NodeStatus::Failed);
            assert!(o.cluster_fault, "{s}");
            assert!(o.reason.unwrap().contains(s));
        }
        let o = outcome(&JobState::parse("FAILED"), Some(0), Some(53));
        assert_eq!(o.failure, Some(FailureKind::Signal(53)));
    }

    #[test]
    fn terminal_and_pending() {
        assert!(JobState::parse("PENDING").is_pending());
        assert!(!JobState::parse("RUNNING").is_terminal());
        assert!(JobState::parse("NODE_FAIL").is_terminal());
        assert!(!JobState::parse("SOMETHING_NEW").is_terminal());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(parse_exit_code("3:0"), (Some(3), None));
        assert_eq!(parse_exit_code("0:15"), (Some(0), Some(15)));
        assert_eq!(parse_exit_code(""), (None, None));
    }
}
