//! The console sink: what a person watching `run-workflow` sees, on stderr.
//!
//! On a terminal (or with `--progress always`) an indicatif display: an overall bar of nodes
//! done out of the total and one line per running node with its elapsed time; otherwise one
//! plain line per node event (`[  1.23s] scan: succeeded (attempt 1, 812 ms, findings 12)`).
//! At the end a table of every node (status, attempts, duration, CPU, peak RSS, findings) and,
//! for each failed node, the last lines of its stderr with the log file's path.
//!
//! Guarantees: writes only to its own writer (stderr in the product), never to stdout and
//! never into the run's log records; colour only when the writer is a terminal and `NO_COLOR`
//! is unset; values of declared secrets are masked in everything it prints; every name, id,
//! reason, message and tool output line is escaped ([`crate::escape`]); write errors
//! (a closed stderr) are ignored rather than failing the run.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use indicatif::ProgressDrawTarget;

mod display;
mod summary;
mod term;

use display::Display;

use summary::attempt_figures;
pub use summary::{
    STDERR_TAIL_LINES, comfy_colour, failure_report, node_table, run_summary_line, stderr_path,
    tail_lines,
};
use term::WriterTerm;

use crate::escape::escape;
use crate::event::{Event, Level, RunContext, Sink};
use crate::store::{AttemptRecord, NodeStatus, RunRecord};
use crate::telemetry::format::{self, Colour, Paint};

/// When to draw the progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Plain lines only.
    Never,
    /// A progress display when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// A progress display even when stderr is not a terminal.
    Always,
}

/// `--show-output`: how much of the tools' own output the console shows (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShowOutput {
    /// None: only statuses and the summary.
    Never,
    /// The last 20 lines of a failed attempt's stderr and stdout, under its summary.
    #[default]
    Failure,
    /// Every line of every node, live, prefixed `[node-id] ` (no progress display).
    Always,
}

/// The live printer of `--show-output always`: each line as `[node-id] line` on stderr,
/// escaped and masked (the capture has masked it already, a secret split across two
/// writes included; masking again here costs little and covers the escaped form).
pub fn live_printer(secrets: Vec<String>) -> crate::engine::capture::LiveHook {
    Box::new(move |node: &str, line: &[u8]| {
        let line = String::from_utf8_lossy(line);
        let mut text = format!("[{}] {}\n", escape(node), escape(&line));
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            for form in [secret.as_str(), &*escape(secret)] {
                if text.contains(form) {
                    text = text.replace(form, "[REDACTED]");
                }
            }
        }
        // One write per line: lines of concurrent nodes never interleave mid-line.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    })
}

/// What the console shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleOptions {
    pub progress: ProgressMode,
    /// Only failures and the one-line summary: no progress, no lines for successes, no table.
    pub quiet: bool,
    /// Colour allowed at all; it is still used only on a terminal without `NO_COLOR`.
    pub colour: bool,
    /// Debug mode: queued/attempt lines, debug messages, a failing node's config and inputs.
    pub debug: bool,
    /// `--show-output`.
    pub show_output: ShowOutput,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            progress: ProgressMode::Auto,
            quiet: false,
            colour: true,
            debug: false,
            show_output: ShowOutput::Failure,
        }
    }
}

type Out = Arc<Mutex<Box<dyn Write + Send>>>;

/// The console sink. Build it with [`ConsoleSink::stderr`] in the product and
/// [`ConsoleSink::to_writer`] in tests.
pub struct ConsoleSink {
    options: ConsoleOptions,
    out: Out,
    paint: Paint,
    /// Draw a progress display (decided at construction from the mode and the terminal).
    progress: bool,
    /// Whether `out` is stderr itself (indicatif then measures the real terminal).
    is_stderr_tty: bool,
    display: Option<Display>,
    nodes: Vec<NodeView>,
    done: u64,
    failed: u64,
}

#[derive(Default)]
struct NodeView {
    /// What the node's final line shows of its latest attempt; dropped once it is shown.
    last: Option<LastAttempt>,
    /// An attempt is running.
    running: bool,
}

/// The few figures of an attempt a node's final line shows: a whole [`AttemptRecord`] per
/// node, kept all run long, would cost a 10 000-node run megabytes.
#[derive(Debug, Clone, Copy)]
struct LastAttempt {
    attempt: u32,
    duration_ms: Option<u64>,
    exit_code: Option<i32>,
    signal: Option<i32>,
}

impl From<&AttemptRecord> for LastAttempt {
    fn from(record: &AttemptRecord) -> Self {
        LastAttempt {
            attempt: record.attempt,
            duration_ms: record.duration_ms,
            exit_code: record.exit_code,
            signal: record.signal,
        }
    }
}

impl ConsoleSink {
    /// The console on this process's stderr: progress and colour only if it is a terminal
    /// (progress also with [`ProgressMode::Always`]).
    pub fn stderr(options: ConsoleOptions) -> Self {
        let tty = std::io::stderr().is_terminal();
        let mut sink = Self::build(options, Box::new(std::io::stderr()), tty);
        sink.is_stderr_tty = tty;
        sink
    }

    /// The console on any writer, taken as not a terminal: no colour, plain lines unless
    /// `progress` is [`ProgressMode::Always`].
    pub fn to_writer(options: ConsoleOptions, out: Box<dyn Write + Send>) -> Self {
        Self::build(options, out, false)
    }

    fn build(options: ConsoleOptions, out: Box<dyn Write + Send>, tty: bool) -> Self {
        let progress = !options.quiet
            && options.show_output != ShowOutput::Always
            && match options.progress {
                ProgressMode::Never => false,
                ProgressMode::Auto => tty,
                ProgressMode::Always => true,
            };
        ConsoleSink {
            options,
            out: Arc::new(Mutex::new(out)),
            paint: Paint::new(options.colour && format::colour_enabled(tty)),
            progress,
            is_stderr_tty: false,
            display: None,
            nodes: Vec::new(),
            done: 0,
            failed: 0,
        }
    }

    fn init(&mut self, ctx: &RunContext) {
        if self.nodes.len() != ctx.plan.nodes.len() {
            self.nodes = (0..ctx.plan.nodes.len())
                .map(|_| NodeView::default())
                .collect();
        }
        if self.progress && self.display.is_none() {
            let elapsed = since(ctx, SystemTime::now());
            self.display = Some(self.new_display(ctx.plan.nodes.len() as u64, elapsed));
        }
    }

    fn new_display(&self, total: u64, elapsed: Duration) -> Display {
        let target = if self.is_stderr_tty {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::term_like_with_hz(Box::new(WriterTerm(self.out.clone())), 10)
        };
        Display::new(target, total, elapsed, self.paint.enabled)
    }

    /// Prints one line above the progress display, or plainly.
    fn line(&self, text: &str) {
        match &self.display {
            Some(d) => d.println(text),
            None => {
                // One write per line, so lines from other writers never split it.
                let mut line = String::with_capacity(text.len() + 1);
                line.push_str(text);
                line.push('\n');
                if let Ok(mut out) = self.out.lock() {
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
            }
        }
    }

    fn node_line(&self, ctx: &RunContext, node: usize, at: SystemTime, what: &str) {
        let id = escape(ctx.plan.nodes.get(node).map_or("?", |n| n.id.as_str()));
        let text = format!(
            "{} {}: {what}",
            self.paint
                .paint(Colour::Dim, &format::elapsed_prefix(since(ctx, at))),
            self.paint.paint(Colour::Bold, &id)
        );
        self.line(&mask(ctx, &text));
    }

    fn on_attempt_started(
        &mut self,
        ctx: &RunContext,
        node: usize,
        attempt: u32,
        extra: String,
        at: SystemTime,
    ) {
        let max = ctx.plan.nodes.get(node).map_or(1, |n| n.retry.max_attempts);
        let of = if max > 1 {
            format!(" of {max}")
        } else {
            String::new()
        };
        self.end_attempt(node);
        if let Some(view) = self.nodes.get_mut(node) {
            view.running = true;
        }
        if let Some(d) = &self.display {
            let id = escape(ctx.plan.nodes.get(node).map_or("?", |n| n.id.as_str()));
            d.started(node, format!("{id} (attempt {attempt}{of})"), at);
        } else if !self.options.quiet {
            let what = format!("started (attempt {attempt}{of}{extra})");
            self.node_line(ctx, node, at, &what);
        }
    }

    fn on_node_finished(
        &mut self,
        ctx: &RunContext,
        node: usize,
        status: NodeStatus,
        reason: Option<&str>,
        findings: u64,
        at: SystemTime,
    ) {
        self.done += 1;
        let bad = matches!(status, NodeStatus::Failed | NodeStatus::TimedOut);
        if bad {
            self.failed += 1;
        }
        self.end_attempt(node);
        let last = self.nodes.get_mut(node).and_then(|view| view.last.take());
        if let Some(d) = &self.display {
            d.finished(self.done, self.failed);
        }
        if self.options.quiet && !bad {
            return;
        }
        let what = finished_text(self.paint, status, last.as_ref(), reason, findings);
        self.node_line(ctx, node, at, &what);
    }

    /// Ends a node's running attempt (and its line in the display).
    fn end_attempt(&mut self, node: usize) {
        let Some(view) = self.nodes.get_mut(node) else {
            return;
        };
        if std::mem::take(&mut view.running)
            && let Some(d) = &self.display
        {
            d.ended(node);
        }
    }

    fn stop_display(&mut self) {
        if let Some(d) = self.display.take() {
            d.clear();
        }
    }

    fn write_block(&self, text: &str) {
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

impl Sink for ConsoleSink {
    /// Long because: one arm per event kind, each what the terminal shows for it.
    fn event(&mut self, ctx: &RunContext, event: &Event) {
        self.init(ctx);
        let quiet = self.options.quiet;
        let debug = self.options.debug;
        match event {
            Event::RunStarted { at } => {
                if !quiet {
                    let mut text = format!(
                        "{} run {} started: {} ({} nodes, concurrency {}, executor {}",
                        format::elapsed_prefix(since(ctx, *at)),
                        ctx.run_id,
                        escape(&ctx.plan.name),
                        ctx.plan.nodes.len(),
                        ctx.concurrency,
                        ctx.executor
                    );
                    if let Some(from) = &ctx.resumed_from {
                        let _ = write!(text, ", resuming {from}");
                    }
                    text.push(')');
                    self.line(&mask(ctx, &text));
                }
            }
            Event::NodeQueued { node, attempt, at } => {
                if debug {
                    self.node_line(ctx, *node, *at, &format!("queued (attempt {attempt})"));
                }
            }
            Event::AttemptStarted {
                node,
                attempt,
                pid,
                executor_job_id,
                at,
                ..
            } => {
                let mut extra = String::new();
                if let Some(pid) = pid {
                    let _ = write!(extra, ", pid {pid}");
                }
                if let Some(job) = executor_job_id {
                    let _ = write!(extra, ", job {job}");
                }
                self.on_attempt_started(ctx, *node, *attempt, extra, *at);
            }
            Event::AttemptFinished { node, record, at } => {
                if let Some(view) = self.nodes.get_mut(*node) {
                    view.last = Some(LastAttempt::from(record));
                }
                self.end_attempt(*node);
                if debug {
                    let mut what = format!(
                        "attempt {} {} ({})",
                        record.attempt,
                        self.paint.status(record.status.as_str()),
                        attempt_figures(record)
                    );
                    if let Some(err) = &record.error {
                        let _ = write!(what, ": {}", escape(err));
                    }
                    self.node_line(ctx, *node, *at, &what);
                }
            }
            Event::NodeRetrying {
                node,
                next_attempt,
                delay,
                error,
                at,
            } => {
                if !quiet {
                    let max = ctx
                        .plan
                        .nodes
                        .get(*node)
                        .map_or(1, |n| n.retry.max_attempts);
                    let what = format!(
                        "attempt {} {}: {}; retrying in {} (attempt {next_attempt} of {max})",
                        next_attempt.saturating_sub(1),
                        self.paint.status("failed"),
                        escape(error),
                        format::duration(*delay)
                    );
                    self.node_line(ctx, *node, *at, &what);
                }
            }
            Event::NodeFinished {
                node,
                status,
                reason,
                findings_count,
                at,
            } => {
                self.on_node_finished(ctx, *node, *status, reason.as_deref(), *findings_count, *at);
            }
            Event::Message {
                level,
                node,
                text,
                at,
            } => {
                let shown = match level {
                    Level::Trace | Level::Debug => debug,
                    Level::Info => !quiet,
                    Level::Warn | Level::Error => true,
                };
                if shown {
                    let tag = match level {
                        Level::Error => self.paint.paint(Colour::Red, "error: "),
                        Level::Warn => self.paint.paint(Colour::Yellow, "warning: "),
                        Level::Debug | Level::Trace => self.paint.paint(Colour::Dim, "debug: "),
                        Level::Info => String::new(),
                    };
                    match node {
                        Some(n) => self.node_line(ctx, *n, *at, &format!("{tag}{}", escape(text))),
                        None => {
                            let prefix = format::elapsed_prefix(since(ctx, *at));
                            let text = escape(text);
                            self.line(&mask(ctx, &format!("{prefix} {tag}{text}")));
                        }
                    }
                }
            }
            // A tool's own progress (SECFLOW_EVENTS): a percentage on its line of the display.
            Event::ToolEvent { node, item, .. } => {
                if let crate::event::tool::Item::Progress(p) = **item
                    && let Some(d) = &self.display
                {
                    d.progress(*node, p);
                }
            }
            // RunFinished, and any event added later that the console does not show.
            other => {
                if let Event::RunFinished { .. } = other {
                    self.stop_display();
                }
            }
        }
    }

    fn finish(&mut self, ctx: &RunContext, record: &mut RunRecord) -> anyhow::Result<()> {
        self.stop_display();
        let mut text = String::new();
        if !self.options.quiet {
            let _ = writeln!(text, "\n{}", node_table(record, self.paint));
        }
        let summary = run_summary_line(record, record.status.as_str(), self.paint);
        let _ = writeln!(text, "{summary}");
        if !self.options.quiet {
            let _ = writeln!(text, "records: {}", ctx.run_dir.display());
        }
        for node in &record.nodes {
            if self.options.show_output == ShowOutput::Never {
                break;
            }
            if matches!(node.status, NodeStatus::Failed | NodeStatus::TimedOut) {
                let plan_node = self
                    .options
                    .debug
                    .then(|| ctx.plan.node_index(&node.node_id))
                    .flatten()
                    .map(|i| &ctx.plan.nodes[i]);
                text.push_str(&failure_report(&ctx.run_dir, node, self.paint, plan_node));
                text.push_str(&summary::stdout_tail(&ctx.run_dir, node, self.paint));
            }
        }
        self.write_block(&mask(ctx, &text));
        Ok(())
    }
}

/// The text after `node:` for a node's final status.
fn finished_text(
    paint: Paint,
    status: NodeStatus,
    last: Option<&LastAttempt>,
    reason: Option<&str>,
    findings: u64,
) -> String {
    let word = paint.status(status.as_str());
    let mut parts = Vec::new();
    if let Some(rec) = last {
        if !matches!(status, NodeStatus::Skipped | NodeStatus::Cached) {
            parts.push(format!("attempt {}", rec.attempt));
            if let Some(ms) = rec.duration_ms {
                parts.push(format::duration_ms(ms));
            }
        }
        if !status.is_success() {
            match (rec.exit_code, rec.signal) {
                (_, Some(sig)) => parts.push(format!("signal {sig}")),
                (Some(code), None) if code != 0 => parts.push(format!("exit {code}")),
                _ => {}
            }
        }
    }
    if findings > 0 {
        parts.push(format!("findings {findings}"));
    }
    let mut text = word;
    if !parts.is_empty() {
        let _ = write!(text, " ({})", parts.join(", "));
    }
    if let Some(reason) = reason {
        let _ = write!(text, ": {}", escape(reason));
    }
    text
}

/// Replaces every declared secret's value with `[REDACTED]`, also in its escaped form (the
/// console escapes what it prints before masking).
fn mask(ctx: &RunContext, text: &str) -> String {
    let mut out = text.to_string();
    for secret in ctx.secret_values.iter().filter(|s| !s.is_empty()) {
        for form in [secret.as_str(), &*escape(secret)] {
            if out.contains(form) {
                out = out.replace(form, "[REDACTED]");
            }
        }
    }
    out
}

fn since(ctx: &RunContext, at: SystemTime) -> Duration {
    at.duration_since(ctx.started_at).unwrap_or_default()
}
