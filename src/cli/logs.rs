//! `secflow logs RUN`: a run's `logs.jsonl`, pretty (time, level, node, message, key fields;
//! colour only on a TTY without `NO_COLOR`) or as the raw JSON lines (`--format json`,
//! `--raw`), filtered by node, minimum level, trace id and time; `--follow` tails a running
//! run until its `run.json` says it ended (or its process is gone). With `--node X --stdout`
//! (or `--stderr`) it prints that node's captured output instead (`--attempt N`, default the
//! last attempt).

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Format, LogsArgs};
use crate::exit;
use crate::store::jsonl::JsonlReader;
use crate::store::resolve::{resolve_run, state_dir};
use crate::telemetry::clock::parse_rfc3339;
use crate::telemetry::log::{LogLevel, LogRecord};
use crate::telemetry::pretty;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(200);

/// Which records to show.
struct Filter {
    node: Option<String>,
    level: Option<LogLevel>,
    trace_id: Option<String>,
    since: Option<SystemTime>,
}

impl Filter {
    fn from_args(args: &LogsArgs) -> Result<Self, String> {
        let level = match &args.level {
            None => None,
            Some(l) => Some(LogLevel::parse(l).ok_or_else(|| {
                format!("invalid --level `{l}`; expected one of TRACE, DEBUG, INFO, WARN, ERROR")
            })?),
        };
        let since = match &args.since {
            None => None,
            Some(s) => Some(parse_since(s)?),
        };
        Ok(Filter {
            node: args.node.clone(),
            level,
            trace_id: args.trace_id.as_ref().map(|t| t.to_ascii_lowercase()),
            since,
        })
    }

    fn keeps(&self, r: &LogRecord) -> bool {
        self.node
            .as_ref()
            .is_none_or(|n| r.node_id.as_ref() == Some(n))
            && self.level.is_none_or(|l| r.level >= l)
            && self
                .trace_id
                .as_ref()
                .is_none_or(|t| r.trace_id.as_deref() == Some(t.as_str()))
            && self
                .since
                .is_none_or(|since| parse_rfc3339(&r.timestamp).is_some_and(|at| at >= since))
    }
}

/// `--since`: an RFC 3339 time, or a duration before now (`10m`, `1h30m`, `90`).
fn parse_since(text: &str) -> Result<SystemTime, String> {
    if let Some(at) = parse_rfc3339(text) {
        return Ok(at);
    }
    let ago = crate::recipe::parse_duration(text).map_err(|_| {
        format!("invalid --since `{text}`; expected an RFC 3339 time (2026-11-23T12:00:00Z) or a duration (10m, 1h)")
    })?;
    Ok(SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(SystemTime::UNIX_EPOCH))
}

pub fn run(args: &LogsArgs) -> anyhow::Result<i32> {
    let state = state_dir(args.state_dir.as_deref());
    let dir = match resolve_run(&state, &args.run) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    if args.stdout || args.stderr {
        return captured(args, &dir);
    }
    if args.attempt.is_some() {
        eprintln!("error: --attempt goes with --stdout or --stderr");
        return Ok(exit::INVALID);
    }
    let filter = match Filter::from_args(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let raw = args.raw || args.format == Format::Json;
    let path = dir.join(crate::telemetry::log_sink::LOGS_FILE);
    let color = !raw && pretty::stdout_color();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let show = |out: &mut dyn Write, line: &[u8], record: &LogRecord| -> io::Result<()> {
        if !filter.keeps(record) {
            return Ok(());
        }
        if raw {
            out.write_all(line)?;
            out.write_all(b"\n")
        } else {
            writeln!(out, "{}", pretty::render(record, color))
        }
    };
    if args.follow {
        follow(&dir, &path, |line| {
            if let Ok(record) = serde_json::from_slice::<LogRecord>(line) {
                show(&mut out, line, &record)?;
                out.flush()?;
            }
            Ok(())
        })?;
        out.flush()?;
        return Ok(exit::SUCCESS);
    }
    let mut reader = match JsonlReader::<LogRecord, _>::open(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return Ok(exit::INVALID);
        }
    };
    while let Some(item) = reader.next() {
        match item {
            Ok(record) => {
                if let Err(e) = show(&mut out, reader.last_line(), &record) {
                    return broken_pipe_ok(e);
                }
            }
            Err(e) => eprintln!("warning: {}: {e}", path.display()),
        }
    }
    if let Err(e) = out.flush() {
        return broken_pipe_ok(e);
    }
    if reader.torn_lines() > 0 && !raw {
        eprintln!(
            "note: skipped a torn last line in {} (the run was interrupted mid-write)",
            path.display()
        );
    }
    Ok(exit::SUCCESS)
}

fn broken_pipe_ok(e: io::Error) -> anyhow::Result<i32> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(exit::SUCCESS)
    } else {
        Err(e.into())
    }
}

/// `--stdout` / `--stderr`: copies `nodes/<id>/<attempt>/<stream>.log`.
fn captured(args: &LogsArgs, dir: &Path) -> anyhow::Result<i32> {
    let Some(node) = &args.node else {
        eprintln!("error: --stdout and --stderr need --node ID");
        return Ok(exit::INVALID);
    };
    let stream = if args.stdout {
        "stdout.log"
    } else {
        "stderr.log"
    };
    let node_dir = dir.join("nodes").join(node);
    let attempt = match args.attempt {
        Some(n) => Some(n),
        None => attempts(&node_dir).last().copied(),
    };
    let Some(attempt) = attempt else {
        let known: Vec<String> = std::fs::read_dir(dir.join("nodes"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        eprintln!(
            "error: no captured output for node `{node}` in {}{}",
            dir.display(),
            if known.is_empty() {
                String::new()
            } else {
                format!(" (nodes with output: {})", known.join(", "))
            }
        );
        return Ok(exit::INVALID);
    };
    let path = node_dir.join(attempt.to_string()).join(stream);
    if args.follow {
        let mut out = io::stdout().lock();
        follow_bytes(dir, &path, |bytes| {
            out.write_all(bytes)?;
            out.flush()
        })?;
        return Ok(exit::SUCCESS);
    }
    let mut file = match crate::store::open::open_regular(&path) {
        Ok(f) => f,
        Err(e) => {
            let have = attempts(&node_dir)
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            eprintln!(
                "error: cannot read {}: {e} (attempts recorded: {have})",
                path.display()
            );
            return Ok(exit::INVALID);
        }
    };
    match io::copy(&mut file, &mut io::stdout().lock()) {
        Ok(_) => Ok(exit::SUCCESS),
        Err(e) => broken_pipe_ok(e),
    }
}

/// The attempt numbers under a node's directory, ascending.
fn attempts(node_dir: &Path) -> Vec<u32> {
    let mut n: Vec<u32> = std::fs::read_dir(node_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    n.sort_unstable();
    n
}

/// Whether the run in `dir` is over: `run.json` says so, or its process is gone (a crash).
fn run_ended(dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("run.json")) else {
        return false;
    };
    let Ok(run) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    if run.get("status").and_then(|s| s.as_str()) != Some("running") {
        return true;
    }
    let same_host =
        run.get("host").and_then(|h| h.as_str()) == Some(&crate::telemetry::span::host_name());
    match run
        .get("pid")
        .and_then(|p| p.as_i64())
        .and_then(|p| i32::try_from(p).ok())
    {
        // SAFETY: signal 0 only checks that the process exists.
        Some(pid) if same_host && pid > 0 => {
            let rc = unsafe { libc::kill(pid, 0) };
            rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
        _ => false,
    }
}

/// Calls `on_bytes` with what is appended to `path` until the run ends (then drains once).
fn follow_bytes(
    dir: &Path,
    path: &PathBuf,
    mut on_bytes: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut pos = 0u64;
    let mut buf = Vec::new();
    loop {
        let ended = run_ended(dir);
        if let Ok(mut file) = crate::store::open::open_regular(path) {
            let len = file.metadata()?.len();
            if len < pos {
                pos = 0; // replaced: start over
            }
            file.seek(SeekFrom::Start(pos))?;
            buf.clear();
            file.read_to_end(&mut buf)?;
            pos += buf.len() as u64;
            if !buf.is_empty() {
                match on_bytes(&buf) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
                    other => other?,
                }
            }
        }
        if ended {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// Calls `on_line` with each complete line appended to `path` until the run ends.
fn follow(
    dir: &Path,
    path: &PathBuf,
    mut on_line: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    follow_bytes(dir, path, |bytes| {
        pending.extend_from_slice(bytes);
        let mut rest: &[u8] = &pending;
        let mut consumed = 0;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = rest[..nl].trim_ascii();
            if !line.is_empty() {
                on_line(line)?;
            }
            consumed += nl + 1;
            rest = &rest[nl + 1..];
        }
        pending.drain(..consumed);
        Ok(())
    })
}
