//! `secflow emit log|metric|progress|finding …`: one line on the node telemetry channel
//! (`SECFLOW_EVENTS`, SPEC §11), for tools written in shell.
//!
//! The line is checked with the rules secflow applies when reading it, so a mistake is said
//! here (exit 2) rather than counted as a bad line. Without `SECFLOW_EVENTS` (outside a run)
//! it warns and exits 0, so a tool works the same under and outside secflow. It only writes
//! to a FIFO: a variable naming anything else (a regular file, a device) is refused, never
//! written to. A line of up to 4 KiB is one atomic write.

use std::io::Write as _;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

use crate::engine::tool_events::{ENV_VAR, MAX_LINE, parse};
use crate::event::Redactor;
use crate::exit;

// `secflow emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    #[command(subcommand)]
    pub what: EmitCommand,
}

#[derive(Debug, Subcommand)]
pub enum EmitCommand {
    /// A log record (logs.jsonl, with the attempt's trace and span ids).
    Log {
        /// trace, debug, info, warn or error.
        #[arg(long, default_value = "info")]
        level: String,
        #[arg(long)]
        message: String,
        /// An extra field of the record's metadata (repeatable); the value is kept as text.
        #[arg(long = "field", value_name = "K=V")]
        fields: Vec<String>,
    },
    /// A metric sample: a counter increment, a gauge value or a histogram observation.
    Metric {
        /// A Prometheus name (counters get `_total` when it is missing).
        #[arg(long)]
        name: String,
        #[arg(long = "type", value_enum)]
        kind: EmitMetricType,
        #[arg(long, allow_negative_numbers = true)]
        value: f64,
        /// A label (repeatable); `node_id` and `plugin_name` are secflow's.
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
    },
    /// The tool's progress, 0 to 1 (shown on the progress display).
    Progress {
        #[arg(value_name = "F")]
        fraction: f64,
    },
    /// A finding: a JSON object.
    Finding {
        #[arg(value_name = "JSON")]
        json: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EmitMetricType {
    Counter,
    Gauge,
    Histogram,
}

fn pairs(items: &[String], what: &str) -> Result<Map<String, Value>, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), Value::from(v))),
            _ => Err(format!("--{what} `{kv}`: expected K=V")),
        })
        .collect()
}

/// The JSON line for `cmd`, checked as secflow will check it.
fn line(cmd: &EmitCommand) -> Result<String, String> {
    let value = match cmd {
        EmitCommand::Log {
            level,
            message,
            fields,
        } => {
            let mut m = pairs(fields, "field")?;
            if m.contains_key("level") || m.contains_key("message") {
                return Err("--field cannot set `level` or `message`".into());
            }
            m.insert("level".into(), level.as_str().into());
            m.insert("message".into(), message.as_str().into());
            json!({ "log": m })
        }
        EmitCommand::Metric {
            name,
            kind,
            value,
            labels,
        } => {
            let kind = match kind {
                EmitMetricType::Counter => "counter",
                EmitMetricType::Gauge => "gauge",
                EmitMetricType::Histogram => "histogram",
            };
            json!({ "metric": { "name": name, "type": kind, "value": value,
                                "labels": pairs(labels, "label")? } })
        }
        EmitCommand::Progress { fraction } => json!({ "progress": fraction }),
        EmitCommand::Finding { json } => {
            let v: Value = serde_json::from_str(json).map_err(|e| format!("finding: {e}"))?;
            json!({ "finding": v })
        }
    };
    let text = value.to_string();
    if text.len() > MAX_LINE {
        return Err(format!("the line is {} bytes, over {MAX_LINE}", text.len()));
    }
    parse::parse_line(text.as_bytes(), &Redactor::default())
        .map_err(|bad| format!("secflow would refuse this line ({})", bad.as_str()))?;
    Ok(text)
}

/// Writes `bytes` with one `write` when the pipe has room, waiting up to 5 s while secflow
/// drains it (the end is opened non-blocking, so a gone reader never hangs the tool).
fn write_line(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut rest = bytes;
    while !rest.is_empty() {
        match file.write(rest) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn run(args: &EmitArgs) -> anyhow::Result<i32> {
    let text = match line(&args.what) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: secflow emit: {e}");
            return Ok(exit::INVALID);
        }
    };
    let Some(path) = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()) else {
        eprintln!(
            "warning: secflow emit: {ENV_VAR} is not set (not running under secflow); nothing sent"
        );
        return Ok(exit::SUCCESS);
    };
    let warn = |what: String| {
        eprintln!(
            "warning: secflow emit: {ENV_VAR}={}: {what}; nothing sent",
            crate::escape::escape(&path.to_string_lossy())
        );
        Ok(exit::SUCCESS)
    };
    // Checked before opening too: opening some devices has effects of its own.
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return warn("not a pipe".into()),
        Err(e) => return warn(e.to_string()),
    }
    // Non-blocking: opening a FIFO nobody reads fails (ENXIO) instead of waiting forever.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => return warn(e.to_string()),
    };
    match file.metadata() {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return warn("not a pipe".into()),
        Err(e) => return warn(e.to_string()),
    }
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    if let Err(e) = write_line(&mut file, &bytes) {
        return warn(e.to_string());
    }
    Ok(exit::SUCCESS)
}
