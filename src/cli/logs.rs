//! `secflow logs RUN`: a run's `logs.jsonl`, pretty (time, level, node, message, key fields;
//! colour only on a TTY without `NO_COLOR`) or as the raw JSON lines (`--format json`,
//! `--raw`), filtered by node, minimum level, trace id and time; `--follow` tails a running
//! run until its `run.json` says it ended or its process is gone (pid absent, or now a younger
//! process's), and stops with exit 2 saying why when that cannot be told for 3 s (no or a
//! corrupt run.json, a run on another host). With `--node X --stdout` (or `--stderr`) it
//! prints that node's captured output instead (`--attempt N`, default the last attempt).
//! `--node` takes a node id of the run, never a path: anything else exits 2 listing the ids.
//! Every value printed from a record is escaped ([`crate::escape`]).

use std::io::{self, BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::{Format, LogsArgs};
use crate::escape;
use crate::exit;
use crate::store::clock::parse_rfc3339;
use crate::store::history;
use crate::store::jsonl::JsonlReader;
use crate::store::resolve::resolve_run;
use crate::telemetry::log::{LogLevel, LogRecord};
use crate::telemetry::log_filter::{LogFilter, node_matches};
use crate::telemetry::pretty;

/// Invalid lines named one by one; the rest are counted in one line.
const MAX_WARNINGS: u64 = 10;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(200);

/// The filter of `--node`, `--level`, `--trace-id` and `--since`.
fn filter_from_args(args: &LogsArgs) -> Result<LogFilter, String> {
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
    Ok(LogFilter {
        node: args.node.clone(),
        level,
        trace_id: args.trace_id.as_ref().map(|t| t.to_ascii_lowercase()),
        since,
    })
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
    let state = args.state.state_dir.clone();
    let dir = match resolve_run(&state, &args.run) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    if let Some(node) = &args.node
        && let Err(e) = check_node(&dir, node)
    {
        eprintln!("error: {e}");
        return Ok(exit::INVALID);
    }
    if args.stdout || args.stderr {
        return captured(args, &dir);
    }
    if args.attempt.is_some() {
        eprintln!("error: --attempt goes with --stdout or --stderr");
        return Ok(exit::INVALID);
    }
    let filter = match filter_from_args(args) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let raw = args.raw || args.format == Format::Json;
    let path = dir.join(crate::sinks::logs::LOGS_FILE);
    let color = !raw && crate::telemetry::format::stdout_colour();
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
        let stopped = follow(&dir, &path, |line| {
            if let Ok(record) = serde_json::from_slice::<LogRecord>(line) {
                show(&mut out, line, &record)?;
                out.flush()?;
            }
            Ok(())
        })?;
        out.flush()?;
        return Ok(stopped_code(stopped));
    }
    let mut reader = match JsonlReader::<LogRecord, _>::open(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return Ok(exit::INVALID);
        }
    };
    let mut bad = 0u64;
    while let Some(item) = reader.next() {
        match item {
            Ok(record) => {
                if let Err(e) = show(&mut out, reader.last_line(), &record) {
                    return broken_pipe_ok(e);
                }
            }
            Err(e) => {
                bad += 1;
                if bad <= MAX_WARNINGS {
                    eprintln!(
                        "warning: {}: {}",
                        path.display(),
                        escape::escape(&e.to_string())
                    );
                }
            }
        }
    }
    if let Err(e) = out.flush() {
        return broken_pipe_ok(e);
    }
    if bad > MAX_WARNINGS {
        eprintln!(
            "warning: {}: {} more invalid lines skipped",
            path.display(),
            bad - MAX_WARNINGS
        );
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

/// `--stdout` / `--stderr`: copies `nodes/<id>/<attempt>/<stream>.log` (`node` was checked
/// to be a known node id, so the path stays inside the run directory).
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
    // An attempt's directory exists only once it wrote output (SPEC §4): run.json's
    // attempts count too.
    let recorded = recorded_attempts(dir, node);
    let attempt = match args.attempt {
        Some(n) => Some(n),
        None => attempts(&node_dir)
            .last()
            .copied()
            .max(recorded.last().copied()),
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
    // Captured output is secflow's own files: a symlink among them (which a tool could plant
    // in its run directory) is never followed out of the run.
    let linked = [
        dir.join("nodes"),
        node_dir.clone(),
        node_dir.join(attempt.to_string()),
        path.clone(),
    ]
    .into_iter()
    .find(|p| {
        p.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
    });
    if let Some(link) = linked {
        eprintln!(
            "error: refused: {} is a symbolic link, not secflow's captured output",
            escape::escape(&link.display().to_string())
        );
        return Ok(exit::INVALID);
    }
    if args.follow {
        let mut out = io::stdout().lock();
        let tty = io::stdout().is_terminal();
        let stopped = follow_bytes(dir, &path, |bytes| {
            if tty {
                out.write_all(escape::escape_lines(&String::from_utf8_lossy(bytes)).as_bytes())?;
            } else {
                out.write_all(bytes)?;
            }
            out.flush()
        })?;
        return Ok(stopped_code(stopped));
    }
    let mut file = match crate::store::open::open_regular(&path) {
        Ok(f) => f,
        // A recorded attempt that never wrote to the stream has no file: empty output.
        Err(e) if e.kind() == io::ErrorKind::NotFound && recorded.contains(&attempt) => {
            return Ok(exit::SUCCESS);
        }
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
    // On a terminal, a tool's escape sequences are shown escaped; piped, the bytes are as
    // the tool wrote them.
    if io::stdout().is_terminal() {
        let mut reader = io::BufReader::new(file);
        let mut out = io::stdout().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(exit::SUCCESS),
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    if let Err(e) = out.write_all(escape::escape_lines(&text).as_bytes()) {
                        return broken_pipe_ok(e);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
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

/// The attempt numbers run.json records for `node`, ascending (empty without a readable
/// run.json).
fn recorded_attempts(dir: &Path, node: &str) -> Vec<u32> {
    let mut n: Vec<u32> = read_followed(dir)
        .ok()
        .and_then(|r| r.nodes)
        .into_iter()
        .flatten()
        .filter(|n| n.node_id == node)
        .flat_map(|n| n.attempts)
        .filter_map(|a| a.attempt)
        .collect();
    n.sort_unstable();
    n
}

/// What `run.json` says about a followed run.
enum RunState {
    Running,
    Ended,
    /// Whether it runs cannot be told; the reason says why.
    Unknown(String),
}

/// The fields of run.json that following and `--node` need, read leniently (a hand-made or
/// older record without the others still works).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Followed {
    status: Option<String>,
    pid: Option<u32>,
    host: Option<String>,
    started_at: Option<String>,
    nodes: Option<Vec<FollowedNode>>,
}

#[derive(Debug, serde::Deserialize)]
struct FollowedNode {
    node_id: String,
    #[serde(default)]
    attempts: Vec<FollowedAttempt>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct FollowedAttempt {
    attempt: Option<u32>,
}

fn read_followed(dir: &Path) -> Result<Followed, String> {
    let bytes = match crate::store::open::read_regular(&dir.join("run.json")) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err("no run.json".into()),
        Err(e) => return Err(format!("cannot read run.json: {e}")),
    };
    if bytes.trim_ascii().is_empty() {
        return Err("run.json is empty".into());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("run.json: {}", escape::escape(&e.to_string())))
}

/// Whether the run in `dir` is over: `run.json` says so, or its process is gone (a crash, or
/// its pid now belongs to a younger process: the start-time check `runs list` uses).
fn run_state(dir: &Path) -> RunState {
    let run = match read_followed(dir) {
        Ok(run) => run,
        Err(why) => return RunState::Unknown(why),
    };
    match run.status.as_deref() {
        Some("running") => {}
        Some(_) => return RunState::Ended,
        None => return RunState::Unknown("run.json records no status".into()),
    }
    let (Some(host), Some(pid)) = (run.host, run.pid) else {
        return RunState::Unknown("run.json records no host or pid".into());
    };
    if host != crate::store::layout::host_name() {
        return RunState::Unknown(format!(
            "run.json says running on host {}, which cannot be checked from here",
            escape::escape(&host)
        ));
    }
    if history::is_dead(&host, pid, run.started_at.as_deref().unwrap_or("")) {
        RunState::Ended
    } else {
        RunState::Running
    }
}

/// How long `--follow` waits for a run whose state cannot be told (no run.json yet, a
/// corrupt one, another host) before it stops and says why.
const UNKNOWN_GRACE: Duration = Duration::from_secs(3);

/// The exit code after following: 0 when the run ended, 2 when it could not be told.
fn stopped_code(stopped: Option<String>) -> i32 {
    match stopped {
        None => exit::SUCCESS,
        Some(why) => {
            eprintln!(
                "error: stopped following after {} s: cannot tell whether the run is still going: {why}",
                UNKNOWN_GRACE.as_secs()
            );
            exit::INVALID
        }
    }
}

/// Checks a `--node` argument: a node id (never a path), and one the run knows (from
/// run.json, else the captured output directories). An unknown one lists the known ids.
/// A node id, or an instance id `ID@i`.
pub(crate) fn valid_node_arg(node: &str) -> bool {
    match node.split_once('@') {
        Some((t, i)) => {
            crate::plan::is_valid_name(t) && !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit())
        }
        None => crate::plan::is_valid_name(node),
    }
}

fn check_node(dir: &Path, node: &str) -> Result<(), String> {
    if !valid_node_arg(node) {
        return Err(format!(
            "--node takes a node id (`[A-Za-z0-9_][A-Za-z0-9_.-]{{0,63}}`, not `.` or `..`), not `{}`",
            escape::escape(node)
        ));
    }
    // run.json's node list is authoritative; without one (a hand-made or unreadable record)
    // the id cannot be checked here.
    let Some(nodes) = read_followed(dir).ok().and_then(|r| r.nodes) else {
        return Ok(());
    };
    let mut known: Vec<String> = nodes.into_iter().map(|n| n.node_id).collect();
    if known.iter().any(|k| node_matches(k, node)) {
        return Ok(());
    }
    known.sort();
    known.dedup();
    let list: Vec<String> = known.iter().map(|k| escape::cell(k)).collect();
    Err(format!(
        "run {} has no node `{node}`{}",
        escape::escape(&dir.display().to_string()),
        if list.is_empty() {
            " (it records no nodes)".to_string()
        } else {
            format!("; its nodes are: {}", list.join(", "))
        }
    ))
}

/// Calls `on_bytes` with what is appended to `path` until the run ends (then drains once).
/// Returns why it stopped early when the run's state could not be told for
/// [`UNKNOWN_GRACE`]. Reads at most 1 MiB per call of `on_bytes`.
fn follow_bytes(
    dir: &Path,
    path: &Path,
    mut on_bytes: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Option<String>> {
    const STEP: u64 = 1 << 20;
    let mut pos = 0u64;
    let mut buf = Vec::new();
    let mut unknown_since: Option<Instant> = None;
    loop {
        let state = run_state(dir);
        if let Ok(mut file) = crate::store::open::open_regular(path) {
            let len = file.metadata()?.len();
            if len < pos {
                pos = 0; // replaced: start over
            }
            file.seek(SeekFrom::Start(pos))?;
            loop {
                buf.clear();
                (&mut file).take(STEP).read_to_end(&mut buf)?;
                if buf.is_empty() {
                    break;
                }
                pos += buf.len() as u64;
                match on_bytes(&buf) {
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(None),
                    other => other?,
                }
            }
        }
        match state {
            RunState::Ended => return Ok(None),
            RunState::Running => unknown_since = None,
            RunState::Unknown(why) => {
                let since = *unknown_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= UNKNOWN_GRACE {
                    return Ok(Some(why));
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Calls `on_line` with each complete line appended to `path` until the run ends.
fn follow(
    dir: &Path,
    path: &Path,
    mut on_line: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Option<String>> {
    // Holds no newline between calls, so only the new bytes are searched: a long line costs
    // linear time, not a rescan per read.
    let mut pending: Vec<u8> = Vec::new();
    follow_bytes(dir, path, |bytes| {
        let old = pending.len();
        pending.extend_from_slice(bytes);
        let mut consumed = 0;
        for nl in memchr::memchr_iter(b'\n', &pending[old..]) {
            let nl = old + nl;
            let line = pending[consumed..nl].trim_ascii();
            if !line.is_empty() {
                on_line(line)?;
            }
            consumed = nl + 1;
        }
        pending.drain(..consumed);
        Ok(())
    })
}
