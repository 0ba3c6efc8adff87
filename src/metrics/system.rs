//! Host and self sampling during a run: CPU %, memory bytes and %, disk % of the state
//! directory's filesystem, and secflow's own RSS and CPU.
//!
//! Cheap by construction: sysinfo refreshes only the global CPU counters, RAM figures and this
//! one process (no process table scan, no thread list); the disk figure is one `statvfs` of
//! the state directory (the exact filesystem, no mount enumeration); secflow's own CPU time
//! comes from `getrusage`. Nothing here blocks for long or holds a lock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sysinfo::{
    CpuRefreshKind, MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
};

/// One sample; a figure the platform could not give is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SystemSample {
    pub cpu_percent: Option<f64>,
    pub memory_used_bytes: Option<u64>,
    pub memory_percent: Option<f64>,
    pub disk_percent: Option<f64>,
    pub self_rss_bytes: Option<u64>,
    /// Percent of one core since the previous sample.
    pub self_cpu_percent: Option<f64>,
    /// User + system CPU time of this process so far.
    pub self_cpu_seconds: Option<f64>,
}

/// Keeps the state needed between samples (CPU counters need two readings).
pub struct SystemSampler {
    sys: Option<System>,
    pid: Option<Pid>,
    disk_path: PathBuf,
    last_self: Option<(Instant, f64)>,
}

impl SystemSampler {
    /// A sampler for the filesystem holding `disk_path` (the state directory). Takes the first
    /// CPU reading, so the next [`sample`](Self::sample) has a baseline.
    pub fn new(disk_path: &Path) -> Self {
        let mut sys = System::new().ok();
        if let Some(sys) = sys.as_mut() {
            sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
        }
        SystemSampler {
            sys,
            pid: sysinfo::get_current_pid().ok(),
            disk_path: disk_path.to_path_buf(),
            last_self: self_cpu_seconds().map(|s| (Instant::now(), s)),
        }
    }

    /// Reads every figure now.
    pub fn sample(&mut self) -> SystemSample {
        let mut out = SystemSample {
            disk_percent: disk_used_percent(&self.disk_path),
            ..SystemSample::default()
        };
        if let Some(sys) = self.sys.as_mut() {
            sys.refresh_cpu_specifics(CpuRefreshKind::nothing().with_usage());
            sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
            out.cpu_percent = Some(f64::from(sys.global_cpu_usage()));
            let total = sys.total_memory();
            if total > 0 {
                let used = total.saturating_sub(sys.available_memory());
                out.memory_used_bytes = Some(used);
                out.memory_percent = Some(used as f64 * 100.0 / total as f64);
            }
            if let Some(pid) = self.pid {
                sys.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    false,
                    ProcessRefreshKind::nothing().with_memory(),
                );
                out.self_rss_bytes = sys.process(pid).map(|p| p.memory());
            }
        }
        if let Some(now_cpu) = self_cpu_seconds() {
            let now = Instant::now();
            if let Some((then, then_cpu)) = self.last_self {
                let wall = now.duration_since(then).as_secs_f64();
                if wall > 0.0 {
                    out.self_cpu_percent = Some(((now_cpu - then_cpu) / wall * 100.0).max(0.0));
                }
            }
            self.last_self = Some((now, now_cpu));
            out.self_cpu_seconds = Some(now_cpu);
        }
        out
    }
}

use crate::sys::rusage::{Who, get as rusage};

/// User + system CPU time of this process (all threads, children excluded).
pub fn self_cpu_seconds() -> Option<f64> {
    rusage(Who::SelfProcess).map(|u| (u.user + u.system).as_secs_f64())
}

/// (user ms, system ms, peak RSS bytes) of this process so far.
pub fn self_usage() -> Option<(u64, u64, u64)> {
    crate::sys::rusage::own().map(|u| {
        let ms = |d: std::time::Duration| (d.as_secs_f64() * 1000.0).round() as u64;
        (ms(u.user), ms(u.system), u.max_rss)
    })
}

/// CPU time of the calling thread (Linux).
pub fn thread_cpu_seconds() -> Option<f64> {
    rusage(Who::Thread).map(|u| (u.user + u.system).as_secs_f64())
}

/// Space used on the filesystem holding `path`, as `df` computes it:
/// used / (used + available to unprivileged users).
pub fn disk_used_percent(path: &Path) -> Option<f64> {
    let (blocks, free, avail) = crate::sys::misc::statvfs(path)?;
    let used = blocks - free;
    let denom = used + avail;
    (denom > 0.0).then(|| used * 100.0 / denom)
}

/// How long to wait between samples when none was asked for.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
