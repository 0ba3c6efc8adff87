//! A plain console sink: one line per node event on stderr and a summary at the end.
//!
//! A sink like any other (the engine itself never prints); the rich TTY console in
//! `telemetry::console` replaces it where available. With `quiet`, only failures and the
//! summary are written.

use std::io::Write;
use std::time::SystemTime;

use crate::engine::{Event, Level, RunContext, Sink};
use crate::store::{NodeStatus, RunRecord};

/// Writes plain lines to stderr.
pub struct PlainConsole {
    quiet: bool,
    started: SystemTime,
}

impl PlainConsole {
    pub fn new(quiet: bool) -> Self {
        PlainConsole {
            quiet,
            started: SystemTime::now(),
        }
    }

    fn line(&self, text: std::fmt::Arguments<'_>) {
        let secs = self.started.elapsed().map_or(0.0, |d| d.as_secs_f64());
        let _ = writeln!(std::io::stderr().lock(), "[{secs:>7.2}s] {text}");
    }
}

impl Sink for PlainConsole {
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        let id = |node: usize| ctx.plan.nodes.get(node).map_or("?", |n| n.id.as_str());
        match event {
            Event::RunStarted { .. } => {
                self.started = ctx.started_at;
                if !self.quiet {
                    self.line(format_args!(
                        "run {} of `{}`: {} node(s), concurrency {}",
                        ctx.run_id,
                        ctx.plan.name,
                        ctx.plan.nodes.len(),
                        ctx.concurrency
                    ));
                }
            }
            Event::AttemptStarted { node, attempt, .. } if !self.quiet => {
                self.line(format_args!("{} started (attempt {attempt})", id(*node)));
            }
            Event::NodeRetrying {
                node,
                next_attempt,
                delay,
                error,
                ..
            } if !self.quiet => self.line(format_args!(
                "{} failed: {error}; retry {next_attempt} in {:.2}s",
                id(*node),
                delay.as_secs_f64()
            )),
            Event::NodeFinished {
                node,
                status,
                reason,
                findings_count,
                ..
            } => {
                let bad = matches!(status, NodeStatus::Failed | NodeStatus::TimedOut);
                if self.quiet && !bad {
                    return;
                }
                let mut text = format!("{} {}", id(*node), status.as_str());
                if *findings_count > 0 {
                    text.push_str(&format!(" ({findings_count} findings)"));
                }
                if let Some(r) = reason {
                    text.push_str(&format!(": {r}"));
                }
                self.line(format_args!("{text}"));
            }
            Event::Message { level, text, .. } if *level >= Level::Warn || !self.quiet => {
                self.line(format_args!("{text}"));
            }
            _ => {}
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        let mut err = std::io::stderr().lock();
        let c = &record.counts;
        for n in record
            .nodes
            .iter()
            .filter(|n| matches!(n.status, NodeStatus::Failed | NodeStatus::TimedOut))
        {
            if let Some(a) = n.attempts.last() {
                let path = ctx
                    .run_dir
                    .join("nodes")
                    .join(&n.node_id)
                    .join(a.attempt.to_string())
                    .join("stderr.log");
                let tail = tail_lines(&path, 10);
                if !tail.is_empty() {
                    writeln!(
                        err,
                        "--- {} stderr (last lines of {}):",
                        n.node_id,
                        path.display()
                    )?;
                    for l in tail {
                        writeln!(err, "    {l}")?;
                    }
                }
            }
        }
        writeln!(
            err,
            "run {} {} in {:.2}s: {} succeeded, {} failed, {} timed out, {} skipped, {} cancelled; {} findings; {}",
            record.run_id,
            record.status.as_str(),
            record.duration_ms.unwrap_or(0) as f64 / 1000.0,
            c.succeeded,
            c.failed,
            c.timed_out,
            c.skipped,
            c.cancelled,
            record.findings_count,
            ctx.run_dir.display()
        )?;
        Ok(())
    }
}

/// The last `n` lines of a file, reading at most its last 64 KiB.
fn tail_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
