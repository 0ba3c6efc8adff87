//! Classifying how an attempt ended: its status, the failure (and how it counts for
//! `retry_on`), and its [`AttemptRecord`] with the kernel's usage figures.

use std::time::{Duration, Instant, SystemTime};

use super::supervise::Ended;
use crate::event::trace::new_span_id;
use crate::plan::{FailureKind, PlanNode};
use crate::store::clock::rfc3339_ms;
use crate::store::{AttemptRecord, NodeStatus};

/// What the scheduler knew about the attempt before it ended.
pub struct AttemptTimes {
    pub queued: (Instant, SystemTime),
    pub retry_delay: Option<Duration>,
    pub job_id: Option<String>,
}

/// An ended attempt, classified.
pub struct AttemptResult {
    pub status: NodeStatus,
    /// What went wrong, if anything.
    pub failure: Option<(FailureKind, String)>,
    pub record: AttemptRecord,
}

/// Classifies `e`. `stopped_why` says why the scheduler stopped it, if it did;
/// `run_timeout`: the stop was the run's `--timeout`.
pub fn classify(
    e: &Ended,
    node: &PlanNode,
    times: &AttemptTimes,
    stopped_why: &str,
    run_timeout: bool,
) -> AttemptResult {
    let info = e.info.as_ref().ok();
    let exit_code = info.and_then(|i| i.exit_code);
    let signal = info.and_then(|i| i.signal);
    let failure: Option<(FailureKind, String)> = if let Err(msg) = &e.info {
        Some((FailureKind::Other, msg.clone()))
    } else if e.timed_out {
        let t = node.timeout.unwrap_or_default();
        Some((
            FailureKind::Timeout,
            format!("timed out after {}", human(t)),
        ))
    } else if info.is_some_and(|i| i.timed_out) {
        Some((
            FailureKind::Timeout,
            "ended by the executor's time limit".to_string(),
        ))
    } else if e.stopped {
        Some((FailureKind::Other, stopped_why.to_string()))
    } else if let Some(sig) = signal {
        Some((
            FailureKind::Signal(sig),
            format!("killed by signal {sig} ({})", signal_name(sig)),
        ))
    } else if exit_code != Some(0) {
        let code = exit_code.unwrap_or(-1);
        Some((FailureKind::Exit(code), format!("exited with code {code}")))
    } else {
        match &e.outputs {
            Some(Err(msg)) => Some((FailureKind::Other, msg.clone())),
            _ => None,
        }
    };
    let executor_timeout = info.is_some_and(|i| i.timed_out);
    let status = match &failure {
        None => NodeStatus::Succeeded,
        Some(_) if e.timed_out || executor_timeout || (e.stopped && run_timeout) => {
            NodeStatus::TimedOut
        }
        Some(_) if e.stopped => NodeStatus::Cancelled,
        Some(_) => NodeStatus::Failed,
    };
    let ms = |d: Duration| d.as_millis() as u64;
    // Time pending in the executor's own queue (Slurm) is queue wait, not run time.
    let pending = info.and_then(|i| i.queue_wait).unwrap_or_default();
    let started = e.started.map(|(i, t)| (i + pending, t + pending));
    let record = AttemptRecord {
        attempt: e.attempt,
        status,
        exit_code,
        signal,
        queued_at: rfc3339_ms(times.queued.1),
        started_at: started.map(|s| rfc3339_ms(s.1)),
        ended_at: Some(rfc3339_ms(e.ended.1)),
        queue_wait_ms: started.map(|s| ms(s.0.saturating_duration_since(times.queued.0))),
        duration_ms: started.map(|s| ms(e.ended.0.saturating_duration_since(s.0))),
        cpu_user_ms: info.map(|i| ms(i.cpu_user)),
        cpu_system_ms: info.map(|i| ms(i.cpu_system)),
        peak_rss_bytes: info.and_then(|i| i.peak_rss_bytes),
        retry_delay_ms: times.retry_delay.map(ms),
        executor_job_id: times.job_id.clone(),
        error: failure.as_ref().map(|(_, m)| m.clone()),
        read_bytes: info.and_then(|i| i.read_bytes),
        write_bytes: info.and_then(|i| i.write_bytes),
        killed_descendants: info
            .and_then(|i| i.killed_descendants)
            .map(|k| u32::try_from(k).unwrap_or(u32::MAX)),
    };
    AttemptResult {
        status,
        failure,
        record,
    }
}

/// ±25 % around `d`.
pub fn jitter(d: Duration) -> Duration {
    let r = u64::from_str_radix(&new_span_id(), 16).unwrap_or(0) as f64 / u64::MAX as f64;
    d.mul_f64(0.75 + r * 0.5)
}

/// `1.5s`, `250ms`, `2m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// `SIGTERM`, `SIGKILL`, … for messages.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_jitter() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(120)), "2m");
        assert_eq!(human(Duration::from_millis(1500)), "1.5s");
        for _ in 0..100 {
            let d = jitter(Duration::from_millis(1000)).as_millis();
            assert!((750..=1250).contains(&d), "{d}");
        }
        assert_eq!(signal_name(9), "SIGKILL");
    }
}
