//! `secflow runs list|show|prune`: the history of recorded runs.
//!
//! Reads run directories through [`crate::store::history`], so a corrupt run is listed as
//! such and a dead `running` run as `died`. `prune` never deletes a run that may still be
//! writing (recorded running with its process alive or on another host, or a directory
//! created within the last minute without a `run.json` yet) nor one such a run resumes, and
//! prints every directory it deletes. Data goes to stdout, notes and errors to stderr.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::Path;
use std::time::SystemTime;

use super::StateDirArg;
use clap::{ArgGroup, Args, Subcommand};
use comfy_table::{Cell, CellAlignment};
use serde::Serialize;

use super::Format;
use crate::escape;
use crate::exit;
use crate::sinks::console::{failure_report, node_table, run_summary_line};
use crate::store::history::{self, Effective, RunEntry};
use crate::store::{NodeStatus, RunRecord, RunStatus};
use crate::telemetry::format::{self, Paint};

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
    #[command(flatten)]
    pub state: StateDirArg,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Recorded runs, newest first.
    List(ListArgs),
    /// One run's summary and nodes.
    Show(ShowArgs),
    /// Delete old run directories (never one that is still running).
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show at most N runs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Only runs of the workflow with exactly this name.
    #[arg(long, value_name = "NAME", add = clap_complete::ArgValueCandidates::new(super::completions::workflows))]
    pub workflow: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A run id, a unique prefix of one, `last`, or a run directory path.
    #[arg(value_name = "RUN", add = clap_complete::ArgValueCandidates::new(super::completions::runs))]
    pub run: String,
    /// `json` prints run.json exactly as recorded.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("rule").required(true).multiple(true).args(["keep", "older_than"])))]
pub struct PruneArgs {
    /// Keep the newest N runs, delete the rest.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Delete runs that started longer ago than this (e.g. `7d`, `12h`). With --keep, a
    /// run is deleted only when both rules allow it.
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Print what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: &RunsArgs) -> anyhow::Result<i32> {
    let state_dir = &args.state.state_dir;
    let result = match &args.command {
        RunsCommand::List(a) => list(state_dir, a),
        RunsCommand::Show(a) => show(state_dir, a),
        RunsCommand::Prune(a) => prune(state_dir, a),
    };
    // `secflow runs list | head` is not an error.
    match result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(exit::SUCCESS)
        }
        other => other,
    }
}

/// One line of `runs list --format json` (documented in README.md).
#[derive(Debug, Serialize)]
pub struct ListEntry {
    pub schema_version: u32,
    pub run_id: String,
    /// `running|succeeded|failed|cancelled`, or `died` / `corrupt`.
    pub status: String,
    /// The status written in run.json (null when it cannot be read).
    pub recorded_status: Option<RunStatus>,
    pub workflow: Option<String>,
    pub recipe_path: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// For a run still going, the time since it started.
    pub duration_ms: Option<u64>,
    pub nodes_total: Option<usize>,
    pub nodes_ok: Option<u64>,
    pub nodes_failed: Option<u64>,
    pub findings_count: Option<u64>,
    pub host: Option<String>,
    pub pid: Option<u32>,
    pub dir: String,
    /// Why run.json could not be read, for a `corrupt` run.
    pub error: Option<String>,
}

impl ListEntry {
    fn from_entry(e: &RunEntry) -> Self {
        let r = e.summary.as_ref();
        let duration_ms = r.and_then(|r| {
            r.duration_ms.or_else(|| {
                (e.effective == Effective::Recorded(RunStatus::Running)).then(|| {
                    let age = SystemTime::now()
                        .duration_since(e.started)
                        .unwrap_or_default();
                    u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
                })
            })
        });
        ListEntry {
            schema_version: 1,
            run_id: e.run_id.clone(),
            status: e.effective.as_str().to_string(),
            recorded_status: r.map(|r| r.status),
            workflow: r.map(|r| r.workflow.name.clone()),
            recipe_path: r.map(|r| r.workflow.recipe_path.clone()),
            started_at: r.map(|r| r.started_at.clone()),
            ended_at: r.and_then(|r| r.ended_at.clone()),
            duration_ms,
            nodes_total: r.map(|r| r.nodes.0),
            nodes_ok: r.map(|r| r.counts.succeeded.saturating_add(r.counts.cached)),
            nodes_failed: r.map(|r| r.counts.failed.saturating_add(r.counts.timed_out)),
            findings_count: r.map(|r| r.findings_count),
            host: r.map(|r| r.host.clone()),
            pid: r.map(|r| r.pid),
            dir: e.dir.display().to_string(),
            error: match &e.effective {
                Effective::Corrupt(reason) => Some(reason.clone()),
                _ => None,
            },
        }
    }
}

fn list(state_dir: &Path, args: &ListArgs) -> anyhow::Result<i32> {
    let entries = history::list_runs(state_dir)?;
    let selected: Vec<ListEntry> = entries
        .iter()
        .filter(|e| match &args.workflow {
            Some(name) => e.summary.as_ref().is_some_and(|r| &r.workflow.name == name),
            None => true,
        })
        .take(args.limit.unwrap_or(usize::MAX))
        .map(ListEntry::from_entry)
        .collect();
    let mut out = std::io::stdout().lock();
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &selected)?;
        writeln!(out)?;
        return Ok(exit::SUCCESS);
    }
    if selected.is_empty() {
        eprintln!(
            "no runs recorded under {}",
            history::runs_dir(state_dir).display()
        );
        return Ok(exit::SUCCESS);
    }
    let paint = Paint::new(format::stdout_colour());
    let mut table = format::table(paint);
    table.set_header(vec![
        "run",
        "workflow",
        "status",
        "started",
        "duration",
        "ok/failed",
        "findings",
    ]);
    let dash = || "-".to_string();
    for e in &selected {
        let nodes = match (e.nodes_ok, e.nodes_failed, e.nodes_total) {
            (Some(ok), Some(failed), Some(total)) => format!("{ok}/{failed} of {total}"),
            _ => dash(),
        };
        table.add_row(vec![
            Cell::new(escape::cell(&e.run_id)),
            Cell::new(e.workflow.as_deref().map_or_else(dash, escape::cell)),
            status_cell(&e.status, paint),
            Cell::new(escape::cell(
                &e.started_at
                    .as_deref()
                    .map_or_else(dash, format::short_time),
            )),
            right(e.duration_ms.map_or_else(dash, format::duration_ms)),
            right(nodes),
            right(e.findings_count.map_or_else(dash, |n| n.to_string())),
        ]);
    }
    writeln!(out, "{table}")?;
    for e in &selected {
        let id = escape::escape(&e.run_id);
        if let Some(reason) = &e.error {
            writeln!(out, "{id}: corrupt: {}", escape::escape(reason))?;
        } else if e.status == "died" {
            writeln!(
                out,
                "{id}: died: recorded as running, but process {} on {} is gone",
                e.pid.unwrap_or(0),
                escape::escape(e.host.as_deref().unwrap_or("?"))
            )?;
        }
    }
    Ok(exit::SUCCESS)
}

fn show(state_dir: &Path, args: &ShowArgs) -> anyhow::Result<i32> {
    let dir = history::resolve_run(state_dir, &args.run)?;
    if args.format == Format::Json {
        let path = dir.join("run.json");
        let bytes = crate::store::open::read_regular(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        // As recorded, but never a corrupt file passed off as a run record.
        if let Err(e) = serde_json::from_slice::<RunRecord>(&bytes) {
            anyhow::bail!("run {} is corrupt: run.json: {e}", dir.display());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)?;
        if !bytes.ends_with(b"\n") {
            writeln!(out)?;
        }
        return Ok(exit::SUCCESS);
    }
    let entry = history::read_run(&dir);
    let effective = &entry.effective;
    let record = &history::load_record(&dir).map_err(|reason| {
        anyhow::anyhow!(
            "run {} is corrupt: {}",
            dir.display(),
            escape::escape(&reason)
        )
    })?;
    let paint = Paint::new(format::stdout_colour());
    let mut out = std::io::stdout().lock();
    write!(out, "{}", summary_text(record, effective, &dir, paint))?;
    if !record.nodes.is_empty() {
        writeln!(out, "{}", node_table(record, paint))?;
    }
    writeln!(
        out,
        "{}",
        run_summary_line(record, effective.as_str(), paint)
    )?;
    for node in &record.nodes {
        if matches!(node.status, NodeStatus::Failed | NodeStatus::TimedOut) {
            write!(out, "{}", failure_report(&dir, node, paint, None))?;
        }
    }
    Ok(exit::SUCCESS)
}

fn summary_text(record: &RunRecord, effective: &Effective, dir: &Path, paint: Paint) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    rows.push(("run", record.run_id.clone()));
    rows.push(("workflow", record.workflow.name.clone()));
    rows.push(("recipe", record.workflow.recipe_path.clone()));
    let mut status = paint.status(effective.as_str());
    if *effective == Effective::Died {
        status.push_str(&format!(
            " (recorded running; process {} on {} is gone)",
            record.pid,
            escape::escape(&record.host)
        ));
    } else if let Some(code) = record.exit_code {
        status.push_str(&format!(" (exit {code})"));
    }
    rows.push(("status", status));
    if let Some(reason) = &record.reason {
        rows.push(("reason", reason.clone()));
    }
    rows.push(("started", record.started_at.clone()));
    if let Some(ended) = &record.ended_at {
        rows.push(("ended", ended.clone()));
    }
    if let Some(ms) = record.duration_ms {
        rows.push(("duration", format::duration_ms(ms)));
    }
    rows.push((
        "executor",
        format!("{}, concurrency {}", record.executor, record.concurrency),
    ));
    rows.push(("host", format!("{} (pid {})", record.host, record.pid)));
    rows.push(("trace id", record.trace_id.clone()));
    if let Some(from) = &record.resumed_from {
        rows.push(("resumed from", from.clone()));
    }
    if !record.vars.is_empty() {
        let vars: Vec<String> = record
            .vars
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(("vars", vars.join(" ")));
    }
    rows.push(("findings", record.findings_count.to_string()));
    if let Some(u) = &record.self_usage {
        rows.push((
            "secflow",
            format!(
                "CPU {}, peak RSS {}",
                format::duration_ms(u.cpu_user_ms.saturating_add(u.cpu_system_ms)),
                format::bytes(u.peak_rss_bytes)
            ),
        ));
    }
    rows.push(("directory", dir.display().to_string()));
    // Every value but the painted status comes from the record: escape it.
    rows.iter()
        .map(|(k, v)| {
            let v = if *k == "status" {
                Cow::Borrowed(v.as_str())
            } else {
                Cow::Owned(escape::escape_capped(v, escape::LINE_MAX_CHARS))
            };
            format!("{k:<13}{v}\n")
        })
        .collect()
}

fn prune(state_dir: &Path, args: &PruneArgs) -> anyhow::Result<i32> {
    let older_than = match &args.older_than {
        Some(text) => match crate::recipe::parse_duration(text) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("error: --older-than: {e}");
                return Ok(exit::INVALID);
            }
        },
        None => None,
    };
    let now = SystemTime::now();
    let entries = history::list_runs(state_dir)?;
    let mut out = std::io::stdout().lock();
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    // A run being resumed reads the datasets of the run it resumes.
    let resumed_by_active: Vec<&str> = entries
        .iter()
        .filter(|e| e.maybe_active())
        .filter_map(|e| e.summary.as_ref()?.resumed_from.as_deref())
        .collect();
    let (mut count, mut freed, mut failed) = (0u64, 0u64, false);
    for (i, e) in entries.iter().enumerate() {
        let beyond_keep = args.keep.is_none_or(|keep| i >= keep);
        let old = older_than.is_none_or(|d| now.duration_since(e.started).is_ok_and(|age| age > d));
        if !(beyond_keep && old) {
            continue;
        }
        if e.maybe_active() {
            eprintln!("kept {}: it may still be running", e.run_id);
            continue;
        }
        if resumed_by_active.contains(&e.run_id.as_str()) {
            eprintln!("kept {}: a running run resumes it", e.run_id);
            continue;
        }
        let size = dir_size(&e.dir);
        if !args.dry_run
            && let Err(err) = std::fs::remove_dir_all(&e.dir)
        {
            eprintln!("error: cannot delete {}: {err}", e.dir.display());
            failed = true;
            continue;
        }
        count += 1;
        freed += size;
        writeln!(out, "{verb} {} ({})", e.run_id, describe(e, size))?;
    }
    let noun = if count == 1 { "run" } else { "runs" };
    writeln!(out, "{verb} {count} {noun}, {}", format::bytes(freed))?;
    Ok(if failed { exit::FAILURE } else { exit::SUCCESS })
}

fn describe(e: &RunEntry, size: u64) -> String {
    let mut parts = Vec::new();
    if let Some(r) = &e.summary {
        parts.push(r.workflow.name.clone());
    }
    parts.push(e.effective.as_str().to_string());
    if let Some(r) = &e.summary {
        parts.push(format!("started {}", format::short_time(&r.started_at)));
    }
    parts.push(format::bytes(size));
    parts.join(", ")
}

/// Bytes of regular files under `dir`, not following symlinks.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in read.filter_map(Result::ok) {
            match item.file_type() {
                Ok(t) if t.is_dir() => stack.push(item.path()),
                Ok(t) if t.is_file() => total += item.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

fn status_cell(status: &str, paint: Paint) -> Cell {
    let cell = Cell::new(status);
    match format::status_colour(status) {
        Some(c) if paint.enabled => cell.fg(crate::sinks::console::comfy_colour(c)),
        _ => cell,
    }
}

fn right(text: String) -> Cell {
    Cell::new(text).set_alignment(CellAlignment::Right)
}
