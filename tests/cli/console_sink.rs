//! The console sink driven by a synthetic event stream: plain lines, the summary table, the
//! tail of a failed node's stderr, quiet and debug modes, secret masking, and the progress
//! display drawn into a buffer.

use crate::support;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use secflow::engine::{Event, Level, RunContext, Sink};
use secflow::sinks::console::{ConsoleOptions, ConsoleSink, ProgressMode};
use secflow::store::{
    AttemptRecord, Counts, NodeRecord, NodeStatus, RUN_SCHEMA_VERSION, RunRecord, RunStatus,
    WorkflowRef,
};

const RECIPE: &str = r#"
version: "1.0"
name: "console-test"
nodes:
  - id: discovery
    type: exec
    command: ["true"]
    outputs: [urls]
  - id: scan
    type: exec
    run: "scan"
    config: { api_token: "abc123", level: 3 }
    inputs: [urls]
    outputs: [findings]
    retry: { max_attempts: 2 }
  - id: enrich
    type: exec
    command: ["true"]
    inputs: [findings]
"#;

const SECRET: &str = "hunter2-secret-value";

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("buffer lock")).into_owned()
    }

    /// The text once it contains `needle` (polled, up to 5 s).
    fn wait_for(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.text();
            if text.contains(needle) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never drew {needle:?}: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn context(run_dir: &Path) -> RunContext {
    context_of(run_dir, RECIPE)
}

fn context_of(run_dir: &Path, recipe: &str) -> RunContext {
    let mut ctx = support::context(run_dir, support::plan_of(recipe));
    ctx.run_id = "01JDCONSOLETEST0000000000".into();
    ctx.trace.trace_id = "1".repeat(32);
    ctx.trace.root_span_id = "2".repeat(16);
    ctx.secret_values = vec![SECRET.into()];
    ctx
}

fn at(ctx: &RunContext, ms: u64) -> SystemTime {
    ctx.started_at + Duration::from_millis(ms)
}

fn attempt(n: u32, status: NodeStatus, exit: i32, ms: u64, rss: u64) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        status,
        exit_code: Some(exit),
        signal: None,
        queued_at: "2027-01-15T08:00:00.000Z".into(),
        started_at: Some("2027-01-15T08:00:00.000Z".into()),
        ended_at: Some("2027-01-15T08:00:01.000Z".into()),
        queue_wait_ms: Some(1),
        duration_ms: Some(ms),
        cpu_user_ms: Some(ms / 2),
        cpu_system_ms: Some(10),
        peak_rss_bytes: Some(rss),
        retry_delay_ms: None,
        executor_job_id: None,
        error: (status != NodeStatus::Succeeded).then(|| format!("exit code {exit}")),
        read_bytes: None,
        write_bytes: None,
        killed_descendants: None,
    }
}

fn node(
    id: &str,
    status: NodeStatus,
    reason: Option<&str>,
    attempts: Vec<AttemptRecord>,
) -> NodeRecord {
    NodeRecord {
        node_id: id.into(),
        kind: "exec".into(),
        plugin_name: "exec".into(),
        depends_on: None,
        status,
        reason: reason.map(str::to_string),
        findings_count: if id == "discovery" { 12 } else { 0 },
        outputs: BTreeMap::new(),
        cache_key: None,
        attempts,
        killed_descendants: None,
        instance: None,
    }
}

/// The run the events below describe: discovery succeeds (12 findings), scan fails twice,
/// enrich is skipped.
fn events(ctx: &RunContext) -> (Vec<Event>, RunRecord) {
    let d1 = attempt(1, NodeStatus::Succeeded, 0, 812, 48_234_496);
    let s1 = attempt(1, NodeStatus::Failed, 1, 300, 1_048_576);
    let s2 = attempt(2, NodeStatus::Failed, 2, 1_234, 2_097_152);
    let started = |node, attempt, ms| Event::AttemptStarted {
        node,
        attempt,
        node_span_id: "3".repeat(16),
        span_id: "4".repeat(16),
        pid: Some(4242),
        executor_job_id: None,
        at: at(ctx, ms),
    };
    let events = vec![
        Event::RunStarted { at: at(ctx, 0) },
        Event::NodeQueued {
            node: 0,
            attempt: 1,
            at: at(ctx, 1),
        },
        started(0, 1, 2),
        Event::AttemptFinished {
            node: 0,
            record: d1.clone(),
            at: at(ctx, 814),
        },
        Event::NodeFinished {
            node: 0,
            status: NodeStatus::Succeeded,
            reason: None,
            findings_count: 12,
            at: at(ctx, 815),
        },
        started(1, 1, 820),
        Event::AttemptFinished {
            node: 1,
            record: s1.clone(),
            at: at(ctx, 1_120),
        },
        Event::NodeRetrying {
            node: 1,
            next_attempt: 2,
            delay: Duration::from_millis(5_000),
            error: "exit code 1".into(),
            at: at(ctx, 1_121),
        },
        Event::Message {
            level: Level::Debug,
            node: Some(1),
            text: "backoff drawn".into(),
            at: at(ctx, 1_122),
        },
        started(1, 2, 6_130),
        Event::AttemptFinished {
            node: 1,
            record: s2.clone(),
            at: at(ctx, 7_364),
        },
        Event::NodeFinished {
            node: 1,
            status: NodeStatus::Failed,
            reason: Some(format!("exit code 2 (token {SECRET})")),
            findings_count: 0,
            at: at(ctx, 7_365),
        },
        Event::NodeFinished {
            node: 2,
            status: NodeStatus::Skipped,
            reason: Some("upstream node scan failed".into()),
            findings_count: 0,
            at: at(ctx, 7_366),
        },
        Event::Message {
            level: Level::Warn,
            node: None,
            text: "1 node failed".into(),
            at: at(ctx, 7_367),
        },
        Event::RunFinished {
            status: RunStatus::Failed,
            exit_code: 1,
            at: at(ctx, 7_400),
        },
    ];
    let record = RunRecord {
        schema_version: RUN_SCHEMA_VERSION,
        run_id: ctx.run_id.clone(),
        workflow: WorkflowRef {
            name: "console-test".into(),
            recipe_path: "console-test.yaml".into(),
            recipe_sha256: "0".repeat(64),
        },
        status: RunStatus::Failed,
        exit_code: Some(1),
        started_at: "2027-01-15T08:00:00.000Z".into(),
        ended_at: Some("2027-01-15T08:00:07.400Z".into()),
        duration_ms: Some(7_400),
        executor: "local".into(),
        concurrency: 2,
        vars: BTreeMap::new(),
        resumed_from: None,
        trace_id: "1".repeat(32),
        pid: 4242,
        host: "test-host".into(),
        nodes: vec![
            node("discovery", NodeStatus::Succeeded, None, vec![d1]),
            node(
                "scan",
                NodeStatus::Failed,
                Some("exit code 2"),
                vec![s1, s2],
            ),
            node(
                "enrich",
                NodeStatus::Skipped,
                Some("upstream node scan failed"),
                vec![],
            ),
        ],
        counts: Counts {
            succeeded: 1,
            failed: 1,
            skipped: 1,
            ..Counts::default()
        },
        findings_count: 12,
        audit: None,
        telemetry: None,
        reason: None,
        self_usage: None,
    };
    (events, record)
}

/// Writes 30 lines to scan's attempt-2 stderr, one holding the secret.
fn write_stderr(run_dir: &Path) -> std::path::PathBuf {
    let dir = run_dir.join("nodes/scan/2");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut text = String::new();
    for i in 1..=30 {
        text.push_str(&format!("scan error line {i}\n"));
    }
    text.push_str(&format!("auth failed for {SECRET}\n"));
    let path = dir.join("stderr.log");
    std::fs::write(&path, text).expect("write stderr");
    path
}

fn drive(options: ConsoleOptions) -> (String, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context(tmp.path());
    let log = write_stderr(tmp.path());
    let buf = Buf::default();
    let mut sink = ConsoleSink::to_writer(options, Box::new(buf.clone()));
    let (events, mut record) = events(&ctx);
    for e in &events {
        sink.event(&ctx, e);
    }
    sink.finish(&ctx, &mut record).expect("finish");
    (buf.text(), log)
}

fn plain() -> ConsoleOptions {
    ConsoleOptions {
        progress: ProgressMode::Never,
        ..ConsoleOptions::default()
    }
}

#[test]
fn plain_lines_one_per_node_event() {
    let (out, _) = drive(plain());
    let expected = [
        "[  0.00s] run 01JDCONSOLETEST0000000000 started: console-test (3 nodes, concurrency 2, executor local)",
        "[  0.00s] discovery: started (attempt 1, pid 4242)",
        "[  0.81s] discovery: succeeded (attempt 1, 812 ms, findings 12)",
        "[  0.82s] scan: started (attempt 1 of 2, pid 4242)",
        "[  1.12s] scan: attempt 1 failed: exit code 1; retrying in 5.0 s (attempt 2 of 2)",
        "[  6.13s] scan: started (attempt 2 of 2, pid 4242)",
        "[  7.37s] scan: failed (attempt 2, 1.2 s, exit 2): exit code 2 (token [REDACTED])",
        "[  7.37s] enrich: skipped: upstream node scan failed",
        "[  7.37s] warning: 1 node failed",
    ];
    let lines: Vec<&str> = out.lines().take(expected.len()).collect();
    assert_eq!(lines, expected, "full output:\n{out}");
    assert!(
        !out.contains("queued"),
        "queued lines are debug only:\n{out}"
    );
    assert!(
        !out.contains("backoff drawn"),
        "debug messages are debug only:\n{out}"
    );
    assert!(!out.contains('\x1b'), "no colour on a non-terminal:\n{out}");
}

#[test]
fn summary_table_and_failed_stderr_tail() {
    let (out, log) = drive(plain());
    for header in [
        "node", "status", "attempts", "duration", "CPU", "peak RSS", "findings",
    ] {
        assert!(out.contains(header), "missing header {header}:\n{out}");
    }
    let row = |id: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {id} ")) && l.starts_with('│'))
            .unwrap_or_else(|| panic!("no table row for {id}:\n{out}"))
            .to_string()
    };
    let discovery = row("discovery");
    for cell in ["succeeded", "812 ms", "416 ms", "46.0 MiB", "12"] {
        assert!(discovery.contains(cell), "{cell} not in {discovery}");
    }
    // scan: two attempts, 300 + 1234 ms, CPU 150+10 + 617+10 ms, RSS the max of both.
    let scan = row("scan");
    for cell in ["failed", " 2 ", "1.5 s", "787 ms", "2.0 MiB"] {
        assert!(scan.contains(cell), "{cell} not in {scan}");
    }
    assert!(row("enrich").contains("skipped"));
    assert!(
        out.contains("run 01JDCONSOLETEST0000000000 failed in 7.4 s: 1 succeeded, 1 failed, 1 skipped; 12 findings"),
        "{out}"
    );
    // The tail: the last 20 of 31 lines, with the log's path; the secret masked.
    assert!(
        out.contains(&format!("stderr: {} (last 20 lines)", log.display())),
        "{out}"
    );
    assert!(out.contains("scan error line 30"));
    assert!(out.contains("scan error line 12"));
    assert!(
        !out.contains("scan error line 11\n"),
        "only 20 lines:\n{out}"
    );
    assert!(out.contains("auth failed for [REDACTED]"));
    assert!(!out.contains(SECRET), "secret leaked:\n{out}");
    assert!(!out.contains("config:"), "config only in debug mode");
}

#[test]
fn a_resumed_run_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut ctx = context(tmp.path());
    ctx.resumed_from = Some("01JDPREVIOUS".into());
    let buf = Buf::default();
    let mut sink = ConsoleSink::to_writer(plain(), Box::new(buf.clone()));
    sink.event(&ctx, &Event::RunStarted { at: at(&ctx, 0) });
    assert!(
        buf.text()
            .ends_with("executor local, resuming 01JDPREVIOUS)\n"),
        "{}",
        buf.text()
    );
}

#[test]
fn quiet_shows_only_failures() {
    let (out, log) = drive(ConsoleOptions {
        quiet: true,
        ..plain()
    });
    assert!(!out.contains("discovery: succeeded"), "{out}");
    assert!(!out.contains("started"), "{out}");
    assert!(!out.contains("peak RSS"), "no table when quiet:\n{out}");
    assert!(
        out.contains("scan: failed (attempt 2, 1.2 s, exit 2)"),
        "{out}"
    );
    assert!(out.contains("warning: 1 node failed"), "{out}");
    assert!(out.contains(&log.display().to_string()), "{out}");
    assert!(
        out.contains("run 01JDCONSOLETEST0000000000 failed in 7.4 s"),
        "{out}"
    );
}

#[test]
fn debug_adds_queue_lines_messages_and_redacted_config() {
    let (out, _) = drive(ConsoleOptions {
        debug: true,
        ..plain()
    });
    assert!(
        out.contains("[  0.00s] discovery: queued (attempt 1)"),
        "{out}"
    );
    assert!(out.contains("scan: debug: backoff drawn"), "{out}");
    assert!(
        out.contains("scan: attempt 2 failed (exit 2, 1.2 s): exit code 2"),
        "{out}"
    );
    assert!(
        out.contains(r#"config: {"api_token":"[REDACTED]","level":3}"#),
        "{out}"
    );
    assert!(out.contains("inputs: urls"), "{out}");
    assert!(!out.contains("abc123"), "sensitive config leaked:\n{out}");
}

#[test]
fn progress_always_draws_into_a_non_terminal_and_still_summarises() {
    let (out, _) = drive(ConsoleOptions {
        progress: ProgressMode::Always,
        ..ConsoleOptions::default()
    });
    // Node lines are printed above the bars; the bars are cleared at the end.
    assert!(
        out.contains("discovery: succeeded (attempt 1, 812 ms, findings 12)"),
        "{out}"
    );
    assert!(out.contains("enrich: skipped"), "{out}");
    assert!(out.contains("peak RSS"), "{out}");
    assert!(
        !out.contains("discovery: started"),
        "running nodes are bars, not lines:\n{out}"
    );
}

#[test]
fn tail_of_a_large_log_reads_only_its_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("stderr.log");
    let mut text = String::new();
    for i in 0..200_000 {
        text.push_str(&format!("line {i}\n"));
    }
    std::fs::write(&path, text).expect("write");
    let tail = secflow::sinks::console::tail_lines(&path, 20).expect("tail");
    let expected: Vec<String> = (199_980..200_000).map(|i| format!("line {i}")).collect();
    assert_eq!(tail, expected);
    std::fs::write(&path, "only\n").expect("write");
    let tail = secflow::sinks::console::tail_lines(&path, 20).expect("tail");
    assert_eq!(tail, vec!["only".to_string()]);
}

/// Not a test on its own: the child half of `progress_display_on_a_real_terminal`, run by it
/// on a pseudo-terminal so that `ConsoleSink::stderr` sees a real TTY.
#[test]
#[ignore = "run by progress_display_on_a_real_terminal"]
fn tty_child() {
    let Some(dir) = std::env::var_os("CONSOLE_TTY_CHILD_DIR") else {
        return;
    };
    let run_dir = Path::new(&dir);
    let mut ctx = context(run_dir);
    ctx.started_at = SystemTime::now();
    write_stderr(run_dir);
    let mut sink = ConsoleSink::stderr(ConsoleOptions::default());
    let (events, mut record) = events(&ctx);
    for e in &events {
        std::thread::sleep(Duration::from_millis(120));
        sink.event(&ctx, e);
    }
    sink.finish(&ctx, &mut record).expect("finish");
}

fn on_a_terminal(no_color: Option<&str>) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let cmd = format!(
        "'{}' --ignored --exact console_sink::tty_child --nocapture --test-threads=1",
        exe.display()
    );
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .env("CONSOLE_TTY_CHILD_DIR", tmp.path())
        .env_remove("NO_COLOR");
    if let Some(v) = no_color {
        script.env("NO_COLOR", v);
    }
    let out = script.output().expect("util-linux script");
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_display_on_a_real_terminal() {
    let out = on_a_terminal(None);
    assert!(out.contains("0/3 nodes"), "an overall bar:\n{out:?}");
    assert!(out.contains("3/3 nodes (0 running, 1 failed)"), "{out:?}");
    assert!(
        out.contains("scan (attempt 2 of 2)"),
        "a line per running node:\n{out:?}"
    );
    assert!(
        out.contains("\x1b[31mfailed\x1b[0m"),
        "colour on a terminal:\n{out:?}"
    );
    assert!(out.contains("peak RSS"), "{out:?}");
    assert!(!out.contains("discovery: started"), "{out:?}");

    let plain = on_a_terminal(Some("1"));
    assert!(
        plain.contains("3/3 nodes (0 running, 1 failed)"),
        "{plain:?}"
    );
    for sgr in ["\x1b[31m", "\x1b[32m", "\x1b[38;5", "\x1b[1m"] {
        assert!(!plain.contains(sgr), "NO_COLOR: {sgr:?} in {plain:?}");
    }
}

#[test]
fn many_running_nodes_share_eight_lines_and_waiting_ones_get_a_freed_line() {
    let mut recipe = String::from("version: \"1.0\"\nname: wide\nnodes:\n");
    for i in 1..=12 {
        recipe.push_str(&format!("  - id: w{i}\n    command: [\"true\"]\n"));
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let ctx = context_of(tmp.path(), &recipe);
    let buf = Buf::default();
    let options = ConsoleOptions {
        progress: ProgressMode::Always,
        ..ConsoleOptions::default()
    };
    let mut sink = ConsoleSink::to_writer(options, Box::new(buf.clone()));
    sink.event(&ctx, &Event::RunStarted { at: at(&ctx, 0) });
    for node in 0..12 {
        sink.event(
            &ctx,
            &Event::AttemptStarted {
                node,
                attempt: 1,
                node_span_id: "3".repeat(16),
                span_id: "4".repeat(16),
                pid: None,
                executor_job_id: None,
                at: at(&ctx, 1),
            },
        );
    }
    // indicatif redraws at most 10 times a second: wait for the display to catch up.
    buf.wait_for("(12 running, 4 not shown)");
    let before = buf.wait_for("w8 (attempt 1)");
    assert!(
        !before.contains("w9 (attempt 1)"),
        "only 8 lines: {before:?}"
    );
    sink.event(
        &ctx,
        &Event::NodeFinished {
            node: 0,
            status: NodeStatus::Succeeded,
            reason: None,
            findings_count: 0,
            at: at(&ctx, 50),
        },
    );
    buf.wait_for("1/12 nodes (11 running, 3 not shown)");
    let after = buf.wait_for("w9 (attempt 1)");
    assert!(!after.contains("w10 (attempt 1)"), "{after:?}");
}

/// A real run whose recipe name holds terminal escapes and whose failing node prints them to
/// stderr: the console (run line, node lines, summary, the failed node's stderr tail) shows
/// them escaped, never raw (issue 24 point 2, issue 19 point 5).
#[test]
fn hostile_name_and_tool_output_are_escaped_on_the_console() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let recipe = tmp.path().join("r.yaml");
    std::fs::write(
        &recipe,
        "version: \"1.0\"\nname: \"x\\e[2J\\e]0;PWNED\\a\\r\\nFAKE run succeeded\"\nnodes:\n  - { id: bad, run: \"printf 'boom \\\\033[2J\\\\033]0;T\\\\007\\\\rX\\\\n' >&2; exit 3\" }\n",
    )
    .expect("recipe");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secflow"))
        .current_dir(tmp.path())
        .env_remove("SECFLOW_HOME")
        .env("NO_COLOR", "1")
        .args(["run-workflow", "--progress", "never", "r.yaml"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !err.contains(['\u{1b}', '\u{7}', '\r']),
        "raw control characters on the console:\n{err:?}"
    );
    assert!(!err.lines().any(|l| l.starts_with("FAKE")), "{err}");
    assert!(err.contains("x\\u{1b}[2J"), "{err}");
    assert!(
        err.contains("boom \\u{1b}[2J\\u{1b}]0;T\\u{7}\\rX"),
        "{err}"
    );
}
