//! Run history: the run directories under `<state-dir>/runs/`, read back, and the one `RUN`
//! resolver every command uses (SPEC §4).
//!
//! Guarantees: a directory whose `run.json` is missing, half-written or not a run record is
//! listed as [`Effective::Corrupt`] with the reason, never an error or a panic; a `running`
//! run whose process no longer exists on this host is [`Effective::Died`], not running
//! forever (nor when its pid now belongs to a younger process). Listing is newest first.
//! Nothing here writes or deletes.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use thiserror::Error;

use super::{AuditSummary, Counts, RunRecord, RunStatus, WorkflowRef};

/// Why a `RUN` argument or the history could not be read.
#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("no run matches `{arg}` under {}", runs.display())]
    NotFound { arg: String, runs: PathBuf },
    #[error("`{arg}` matches {} runs: {}", matches.len(), matches.join(", "))]
    Ambiguous { arg: String, matches: Vec<String> },
    #[error("no runs recorded under {}", runs.display())]
    NoRuns { runs: PathBuf },
    #[error("{} is not a run directory (no run.json)", path.display())]
    NotARunDir { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a run is now, as shown to people: its recorded status, or what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effective {
    Recorded(RunStatus),
    /// Recorded as running, but its process is gone from this host.
    Died,
    /// `run.json` missing or unreadable; the reason says why.
    Corrupt(String),
}

impl Effective {
    pub fn as_str(&self) -> &'static str {
        match self {
            Effective::Recorded(s) => s.as_str(),
            Effective::Died => "died",
            Effective::Corrupt(_) => "corrupt",
        }
    }
}

/// One run directory, read; `N` is how its nodes are read (see [`RunSummary`]).
#[derive(Debug, Clone)]
pub struct RunEntry<N = NodeCount> {
    /// The directory's name (the run id).
    pub run_id: String,
    pub dir: PathBuf,
    /// The record's summary fields, when `run.json` could be read.
    pub summary: Option<RunSummary<N>>,
    pub effective: Effective,
    /// When the run started: from the record, else the run id's ULID time, else the
    /// directory's modification time.
    pub started: SystemTime,
}

impl<N> RunEntry<N> {
    /// Whether the run may still be writing: recorded `running` and not known dead (its
    /// process alive, or on another host where it cannot be checked), or a directory without
    /// `run.json` touched within the last minute (a run being created: run.json is written
    /// atomically, so a run in progress never has an unreadable one).
    pub fn maybe_active(&self) -> bool {
        match (&self.effective, &self.summary) {
            (Effective::Recorded(RunStatus::Running), _) => true,
            (Effective::Corrupt(_), None) if !self.dir.join("run.json").exists() => {
                let touched = std::fs::metadata(&self.dir)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                SystemTime::now()
                    .duration_since(touched)
                    .is_ok_and(|age| age < Duration::from_secs(60))
            }
            _ => false,
        }
    }
}

/// `<state-dir>/runs`.
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// Every run under `<state-dir>/runs/`, newest first. A missing `runs/` is an empty history.
pub fn list_runs(state_dir: &Path) -> Result<Vec<RunEntry>, HistoryError> {
    let runs = runs_dir(state_dir);
    let read = match std::fs::read_dir(&runs) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(HistoryError::Io { path: runs, source }),
    };
    let mut entries = Vec::new();
    for item in read {
        let item = item.map_err(|source| HistoryError::Io {
            path: runs.clone(),
            source,
        })?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !item.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        entries.push(read_run(&item.path()));
    }
    entries.sort_by_key(|e| Reverse((e.started, e.run_id.clone())));
    Ok(entries)
}

/// The fields of `run.json` that history needs: [`RunRecord`]'s own, with its nodes read
/// as `N` — by default only counted ([`NodeCount`]: a 10 000-node record costs its parse
/// time, not its size in memory); `Vec<NodeRecord>` for a reader that needs them (one
/// parse of the file either way).
#[derive(Debug, Clone, Deserialize)]
pub struct RunSummary<N = NodeCount> {
    pub run_id: String,
    pub workflow: WorkflowRef,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub pid: u32,
    pub host: String,
    #[serde(default)]
    pub resumed_from: Option<String>,
    pub nodes: N,
    pub counts: Counts,
    pub findings_count: u64,
    #[serde(default)]
    pub audit: Option<AuditSummary>,
}

/// The length of a JSON array whose elements are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCount(pub usize);

impl<'de> Deserialize<'de> for NodeCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> serde::de::Visitor<'de> for Counter {
            type Value = NodeCount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of nodes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<NodeCount, A::Error> {
                let mut n = 0;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(NodeCount(n))
            }
        }
        d.deserialize_seq(Counter)
    }
}

/// A JSON array read element by element: an element that does not read as `T` (a node
/// record from another version of secflow, or edited by hand) is skipped and counted, so one
/// odd element never makes the whole record unreadable.
#[derive(Debug, Clone)]
pub struct Lenient<T> {
    pub items: Vec<T>,
    pub skipped: usize,
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Elements<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for Elements<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Lenient<T>, A::Error> {
                let mut out = Lenient {
                    items: Vec::new(),
                    skipped: 0,
                };
                while let Some(value) = seq.next_element::<serde_json::Value>()? {
                    match serde_json::from_value(value) {
                        Ok(item) => out.items.push(item),
                        Err(_) => out.skipped += 1,
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Elements(std::marker::PhantomData))
    }
}

/// `started_at` of a record that is not a whole run summary (half-written, or older).
fn recorded_start(dir: &Path) -> Option<SystemTime> {
    #[derive(Deserialize)]
    struct Start {
        started_at: String,
    }
    let text = super::open::read_regular(&dir.join("run.json")).ok()?;
    let start: Start = serde_json::from_slice(&text).ok()?;
    parse_time(&start.started_at)
}

/// Reads one run directory; never fails (an unreadable record is [`Effective::Corrupt`]).
pub fn read_run(dir: &Path) -> RunEntry {
    read_run_as(dir)
}

/// [`read_run`] with the nodes read as `N`.
pub fn read_run_as<N: serde::de::DeserializeOwned>(dir: &Path) -> RunEntry<N> {
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let (summary, effective) = match load_json::<RunSummary<N>>(dir) {
        Ok(s) => {
            let dead = s.status == RunStatus::Running && is_dead(&s.host, s.pid, &s.started_at);
            let effective = if dead {
                Effective::Died
            } else {
                Effective::Recorded(s.status)
            };
            (Some(s), effective)
        }
        Err(reason) => (None, Effective::Corrupt(reason)),
    };
    let started = summary
        .as_ref()
        .and_then(|r| parse_time(&r.started_at))
        .or_else(|| recorded_start(dir))
        .or_else(|| ulid_time(&run_id))
        .or_else(|| std::fs::metadata(dir).and_then(|m| m.modified()).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    RunEntry {
        run_id,
        dir: dir.to_path_buf(),
        summary,
        effective,
        started,
    }
}

/// Reads and parses `<dir>/run.json`; the error is a one-line reason.
pub fn load_record(dir: &Path) -> Result<RunRecord, String> {
    load_json(dir)
}

fn load_json<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<T, String> {
    let path = dir.join("run.json");
    let bytes = super::open::read_regular(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no run.json".to_string(),
        _ => format!("cannot read run.json: {e}"),
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("run.json is empty".into());
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("run.json: {e}"))
}

/// Whether a recorded `running` run's process is known to be gone: same host, and either no
/// process has its pid (`kill(pid, 0)` fails with ESRCH) or the process that has it started
/// after the run did (the pid was reused; Linux `/proc`). A run from another host is never
/// declared dead, since that cannot be checked from here.
pub fn is_dead(host: &str, pid: u32, started_at: &str) -> bool {
    if host != super::layout::host_name() {
        return false;
    }
    if !process_alive(pid) {
        return true;
    }
    match (process_started_at(pid), parse_time(started_at)) {
        (Some(process), Some(run)) => process > run + PID_REUSE_SLACK,
        _ => false,
    }
}

/// Clock error tolerated between the run's recorded start and its process's start.
const PID_REUSE_SLACK: Duration = Duration::from_secs(10);

/// When a process started, from `/proc/<pid>/stat` and the boot time (Linux; `None`
/// elsewhere or when unreadable).
pub fn process_started_at(pid: u32) -> Option<SystemTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // Field 22 (starttime, clock ticks after boot); `rest` starts at field 3.
    let ticks: u64 = rest.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = crate::sys::misc::clock_ticks();
    let after_boot = Duration::from_millis(ticks.saturating_mul(1000) / hz);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + after_boot)
}

/// Whether a process with this pid exists (`kill(pid, 0)`; EPERM means it exists).
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    crate::sys::proc::exists(pid)
}

/// Resolves a `RUN` argument to a run directory (SPEC §4): an exact run id, else a unique
/// id prefix (ambiguous → [`HistoryError::Ambiguous`] listing the matches), else `last`
/// (newest by start time), else — if it contains `/` — a run directory path.
pub fn resolve_run(state_dir: &Path, arg: &str) -> Result<PathBuf, HistoryError> {
    let runs = runs_dir(state_dir);
    let not_found = || HistoryError::NotFound {
        arg: arg.to_string(),
        runs: runs.clone(),
    };
    if arg.is_empty() {
        return Err(not_found());
    }
    let plain = !arg.contains('/') && arg != "." && arg != "..";
    if plain && runs.join(arg).is_dir() {
        return Ok(runs.join(arg));
    }
    let ids = if plain { run_ids(&runs)? } else { Vec::new() };
    let mut matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(arg)).collect();
    if matches.is_empty() {
        let upper = arg.to_ascii_uppercase();
        matches = ids
            .iter()
            .filter(|id| id.to_ascii_uppercase().starts_with(&upper))
            .collect();
    }
    match matches.len() {
        1 => return Ok(runs.join(matches[0])),
        0 => {}
        _ => {
            let mut matches: Vec<String> = matches.into_iter().cloned().collect();
            matches.sort();
            return Err(HistoryError::Ambiguous {
                arg: arg.to_string(),
                matches,
            });
        }
    }
    if arg == "last" {
        // The newest run that recorded its start; a directory without a record only when
        // nothing else is there.
        let entries = list_runs(state_dir)?;
        let recorded = entries
            .iter()
            .find(|e| e.summary.is_some() || recorded_start(&e.dir).is_some());
        return recorded
            .or(entries.first())
            .map(|e| e.dir.clone())
            .ok_or(HistoryError::NoRuns { runs });
    }
    if !plain {
        let path = PathBuf::from(arg);
        // A run directory, or a folder holding some of a run's records (copied from another
        // machine): each command then says what it is missing.
        let records = [
            "run.json",
            "logs.jsonl",
            "spans.jsonl",
            "audit.jsonl",
            "metrics.json",
        ];
        if records.iter().any(|f| path.join(f).is_file()) {
            return Ok(path);
        }
        if path.is_dir() {
            return Err(HistoryError::NotARunDir { path });
        }
    }
    Err(not_found())
}

fn run_ids(runs: &Path) -> Result<Vec<String>, HistoryError> {
    let read = match std::fs::read_dir(runs) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HistoryError::Io {
                path: runs.to_path_buf(),
                source,
            });
        }
    };
    Ok(read
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect())
}

/// Parses an RFC 3339 time from a record.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.into())
}

fn ulid_time(id: &str) -> Option<SystemTime> {
    ulid::Ulid::from_string(id).ok().map(|u| u.datetime())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_pid_zero_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn this_process_started_recently() {
        let started = process_started_at(std::process::id()).expect("linux /proc");
        let age = SystemTime::now()
            .duration_since(started)
            .unwrap_or_default();
        assert!(age < Duration::from_secs(3600), "started {age:?} ago");
        assert!(process_started_at(0).is_none());
    }

    #[test]
    fn rfc3339_times_parse() {
        let t = parse_time("2026-11-23T12:00:00.000Z").expect("parses");
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        assert_eq!(secs, 1_795_435_200);
        assert!(parse_time("not a time").is_none());
    }
}
