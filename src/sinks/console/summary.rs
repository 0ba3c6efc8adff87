//! The end of a run, as the console and `runs show` print it: the per-node table, the
//! one-line run summary, and for a failed node the tail of its stderr with the log's path.
//!
//! Guarantees: reads at most the last 64 KiB of a log, however large (and never through a
//! node id that is not a valid id); escapes ids, reasons and tool output ([`crate::escape`]);
//! masks config values whose key names a credential. Masking declared secrets' values is the caller's job.

use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use comfy_table::{Cell, CellAlignment, Color, Table};

use crate::escape;
use crate::plan::PlanNode;
use crate::store::{AttemptRecord, NodeRecord, RunRecord};
use crate::telemetry::format::{self, Colour, Paint};

/// Lines of a failed node's stderr shown at the end.
pub const STDERR_TAIL_LINES: usize = 20;

/// `exit 2, 1.2 s` (or `signal 9, …`) for an attempt.
pub(super) fn attempt_figures(rec: &AttemptRecord) -> String {
    let mut parts = Vec::new();
    match (rec.exit_code, rec.signal) {
        (_, Some(sig)) => parts.push(format!("signal {sig}")),
        (Some(code), None) => parts.push(format!("exit {code}")),
        _ => {}
    }
    if let Some(ms) = rec.duration_ms {
        parts.push(format::duration_ms(ms));
    }
    parts.join(", ")
}

/// The per-node table shown at the end of a run and by `runs show`.
pub fn node_table(record: &RunRecord, paint: Paint) -> Table {
    let mut table = crate::telemetry::format::table(paint);
    table.set_header(vec![
        "node", "status", "attempts", "duration", "CPU", "peak RSS", "findings",
    ]);
    for node in &record.nodes {
        let sum = |f: fn(&AttemptRecord) -> Option<u64>| -> Option<u64> {
            node.attempts
                .iter()
                .filter_map(f)
                .reduce(|a, b| a.saturating_add(b))
        };
        let duration = sum(|a| a.duration_ms);
        let cpu = sum(|a| Some(a.cpu_user_ms?.saturating_add(a.cpu_system_ms.unwrap_or(0))));
        let rss = node.attempts.iter().filter_map(|a| a.peak_rss_bytes).max();
        let mut status = Cell::new(node.status.as_str());
        if paint.enabled
            && let Some(c) = format::status_colour(node.status.as_str())
        {
            status = status.fg(comfy_colour(c));
        }
        let right = |s: String| Cell::new(s).set_alignment(CellAlignment::Right);
        let dash = || "-".to_string();
        table.add_row(vec![
            Cell::new(escape::cell(&node.node_id)),
            status,
            right(node.attempts.len().to_string()),
            right(duration.map_or_else(dash, format::duration_ms)),
            right(cpu.map_or_else(dash, format::duration_ms)),
            right(rss.map_or_else(dash, format::bytes)),
            right(node.findings_count.to_string()),
        ]);
    }
    table
}

/// comfy-table's colour for a [`Colour`].
pub fn comfy_colour(c: Colour) -> Color {
    match c {
        Colour::Red => Color::Red,
        Colour::Green => Color::Green,
        Colour::Yellow => Color::Yellow,
        Colour::Blue => Color::Blue,
        Colour::Magenta => Color::Magenta,
        Colour::Cyan => Color::Cyan,
        Colour::Bold | Colour::Dim => Color::Reset,
    }
}

/// `run 01J… failed in 3.4 s: 2 succeeded, 1 failed, 1 skipped; 12 findings`. `status` is
/// the word to show (the recorded status, or what became of the run, e.g. `died`).
pub fn run_summary_line(record: &RunRecord, status: &str, paint: Paint) -> String {
    let c = &record.counts;
    let parts: Vec<String> = [
        ("succeeded", c.succeeded),
        ("cached", c.cached),
        ("failed", c.failed),
        ("timed out", c.timed_out),
        ("skipped", c.skipped),
        ("cancelled", c.cancelled),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(word, n)| format!("{n} {word}"))
    .collect();
    let took = record
        .duration_ms
        .map_or_else(String::new, |ms| format!(" in {}", format::duration_ms(ms)));
    let counts = if parts.is_empty() {
        "no nodes finished".to_string()
    } else {
        parts.join(", ")
    };
    format!(
        "run {} {}{took}: {counts}; {} findings",
        record.run_id,
        paint.status(status),
        record.findings_count
    )
}

/// The block printed for a failed node: reason, the stderr log's path and its last lines;
/// in debug mode also the node's config (sensitive keys masked) and inputs.
///
/// `plan_node` (debug mode, during a run) adds the node's config and inputs.
pub fn failure_report(
    run_dir: &Path,
    node: &NodeRecord,
    paint: Paint,
    plan_node: Option<&PlanNode>,
) -> String {
    let mut text = String::new();
    let last = node.attempts.last();
    let mut head = format!(
        "\n{} {}",
        paint.paint(Colour::Bold, &escape::escape(&node.node_id)),
        paint.status(node.status.as_str())
    );
    if let Some(rec) = last {
        let figures = attempt_figures(rec);
        if figures.is_empty() {
            let _ = write!(head, " (attempt {})", rec.attempt);
        } else {
            let _ = write!(head, " (attempt {}, {figures})", rec.attempt);
        }
    }
    if let Some(reason) = node
        .reason
        .as_ref()
        .or(last.and_then(|rec| rec.error.as_ref()))
    {
        let _ = write!(head, ": {}", escape::escape(reason));
    }
    let _ = writeln!(text, "{head}");
    if let Some(plan_node) = plan_node {
        // Values under credential keys masked, by the same function the records use.
        let config = crate::event::redact::mask_config(
            &plan_node.config,
            &crate::event::Redactor::default(),
        );
        let config = serde_json::to_string(&config).unwrap_or_default();
        let _ = writeln!(text, "  config: {config}");
        if !plan_node.inputs.is_empty() {
            let _ = writeln!(text, "  inputs: {}", plan_node.inputs.join(", "));
        }
    }
    let Some(rec) = last else {
        return text;
    };
    if !crate::plan::foreach::is_valid_record_id(&node.node_id) {
        // An edited record: never let its node id name a path outside the run.
        let _ = writeln!(text, "  stderr: not shown (the node id is not a valid id)");
        return text;
    }
    let path = stderr_path(run_dir, &node.node_id, rec.attempt);
    let shown_path = escape::escape(&path.to_string_lossy()).into_owned();
    match tail_lines(&path, STDERR_TAIL_LINES) {
        Ok(lines) if lines.is_empty() => {
            let _ = writeln!(text, "  stderr: {shown_path} (empty)");
        }
        Ok(lines) => {
            let shown = match lines.len() {
                1 => "last line".to_string(),
                n => format!("last {n} lines"),
            };
            let _ = writeln!(text, "  stderr: {shown_path} ({shown})");
            for line in lines {
                let line = escape::escape(&line);
                let _ = writeln!(text, "  {} {line}", paint.paint(Colour::Dim, "|"));
            }
        }
        Err(e) => {
            let _ = writeln!(text, "  stderr: {shown_path} (unreadable: {e})");
        }
    }
    text
}

/// `<run_dir>/nodes/<id>/<attempt>/stderr.log`.
pub fn stderr_path(run_dir: &Path, node_id: &str, attempt: u32) -> PathBuf {
    run_dir
        .join("nodes")
        .join(node_id)
        .join(attempt.to_string())
        .join("stderr.log")
}

/// The last `n` lines of a file, reading at most its last 64 KiB (a node that printed
/// gigabytes costs nothing more). Invalid UTF-8 is replaced.
pub fn tail_lines(path: &Path, n: usize) -> std::io::Result<Vec<String>> {
    const WINDOW: u64 = 64 * 1024;
    // No file: the attempt never wrote to the stream (SPEC §4), empty output.
    let mut file = match crate::store::open::open_regular(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        r => r?,
    };
    let len = file.metadata()?.len();
    let start = len.saturating_sub(WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(WINDOW).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // cut mid-line
    }
    let from = lines.len().saturating_sub(n);
    Ok(lines[from..].iter().map(|l| l.to_string()).collect())
}

/// The last lines of a failed node's stdout, under its stderr (nothing when it printed
/// nothing there).
pub(super) fn stdout_tail(run_dir: &Path, node: &NodeRecord, paint: Paint) -> String {
    let mut text = String::new();
    let Some(rec) = node.attempts.last() else {
        return text;
    };
    if !crate::plan::foreach::is_valid_record_id(&node.node_id) {
        return text;
    }
    let path = stderr_path(run_dir, &node.node_id, rec.attempt).with_file_name("stdout.log");
    let Ok(lines) = tail_lines(&path, STDERR_TAIL_LINES) else {
        return text;
    };
    if lines.is_empty() {
        return text;
    }
    let shown_path = escape::escape(&path.to_string_lossy()).into_owned();
    let shown = match lines.len() {
        1 => "last line".to_string(),
        n => format!("last {n} lines"),
    };
    let _ = writeln!(text, "  stdout: {shown_path} ({shown})");
    for line in lines {
        let _ = writeln!(
            text,
            "  {} {}",
            paint.paint(Colour::Dim, "|"),
            escape::escape(&line)
        );
    }
    text
}
