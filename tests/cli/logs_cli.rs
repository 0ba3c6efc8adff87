//! `secflow logs` on run directories laid out by hand: views, filters, captured output,
//! RUN resolution, torn lines and `--follow`.
#![allow(unsafe_code)] // libc calls in tests

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use secflow::telemetry::{LogLevel, LogRecord};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn record(at: SystemTime, level: LogLevel, node: Option<&str>, message: &str) -> LogRecord {
    let mut r = LogRecord::new(at, level, "secflow::engine", message);
    r.trace_id = Some(TRACE.into());
    r.span_id = Some("a1a1a1a1a1a1a1a1".into());
    r.run_id = Some("01RUNAAA".into());
    r.node_id = node.map(str::to_string);
    r
}

fn line(r: &LogRecord) -> String {
    serde_json::to_string(r).unwrap() + "\n"
}

fn run_json(status: &str) -> String {
    format!(
        r#"{{"run_id":"01RUNAAA","status":"{status}","started_at":"{}","pid":{},"host":"{}"}}"#,
        secflow::store::clock::rfc3339_ms(SystemTime::now()),
        std::process::id(),
        secflow::store::layout::host_name()
    )
}

/// A state dir with runs 01RUNAAA (logs, captured output) and 01RUNAAB (older, empty).
fn layout() -> (tempfile::TempDir, PathBuf) {
    let state = tempfile::tempdir().unwrap();
    let run = state.path().join("runs/01RUNAAA");
    std::fs::create_dir_all(run.join("nodes/fetch/1")).unwrap();
    std::fs::create_dir_all(run.join("nodes/fetch/2")).unwrap();
    std::fs::create_dir_all(state.path().join("runs/01RUNAAB")).unwrap();
    std::fs::write(
        state.path().join("runs/01RUNAAB/run.json"),
        r#"{"started_at":"2020-01-01T00:00:00.000Z"}"#,
    )
    .unwrap();
    std::fs::write(run.join("run.json"), run_json("failed")).unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let now = SystemTime::now();
    let mut completed = record(now, LogLevel::Info, Some("fetch"), "node completed");
    completed.duration_ms = Some(812);
    completed.findings_count = Some(12);
    let mut text = String::new();
    text += &line(&record(old, LogLevel::Info, None, "run started"));
    text += &line(&record(old, LogLevel::Debug, Some("fetch"), "node queued"));
    text += &line(&completed);
    let mut other = record(now, LogLevel::Error, Some("parse"), "node failed");
    other.trace_id = Some("ffffffffffffffffffffffffffffffff".into());
    text += &line(&other);
    text += &line(&record(now, LogLevel::Warn, None, "run finished"));
    text += r#"{"schema_version":1,"timestamp":"2026-11-23T12:0"#; // torn by a kill -9
    std::fs::write(run.join("logs.jsonl"), text).unwrap();
    std::fs::write(run.join("nodes/fetch/1/stdout.log"), "first attempt out\n").unwrap();
    std::fs::write(run.join("nodes/fetch/2/stdout.log"), "second attempt out\n").unwrap();
    std::fs::write(run.join("nodes/fetch/2/stderr.log"), "oops\n").unwrap();
    (state, run)
}

fn logs(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_secflow"))
        .arg("logs")
        .args(args)
        .env("SECFLOW_HOME", state)
        .env_remove("SECFLOW_LOG_LEVEL")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn pretty_view_shows_key_fields_without_colour_off_a_tty() {
    let (state, _) = layout();
    let o = logs(state.path(), &["01RUNAAA"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 5, "{out}");
    let done = out.lines().find(|l| l.contains("node completed")).unwrap();
    assert!(
        done.contains("INFO")
            && done.contains("fetch")
            && done.contains("duration_ms=812")
            && done.contains("findings=12"),
        "{done}"
    );
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    assert!(stderr(&o).contains("torn last line"), "{}", stderr(&o));
}

#[test]
fn json_format_prints_the_raw_lines() {
    let (state, run) = layout();
    let text = std::fs::read_to_string(run.join("logs.jsonl")).unwrap();
    let complete: Vec<&str> = text.lines().take(5).collect();
    for flag in [&["--format", "json"][..], &["--raw"][..]] {
        let o = logs(state.path(), &[&["01RUNAAA"], flag].concat());
        assert!(o.status.success());
        assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), complete);
    }
}

#[test]
fn filters_by_node_level_trace_and_time() {
    let (state, _) = layout();
    let count = |args: &[&str]| {
        let o = logs(state.path(), &[&["01RUNAAA", "--raw"], args].concat());
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        stdout(&o).lines().count()
    };
    assert_eq!(count(&["--node", "fetch"]), 2);
    assert_eq!(count(&["--level", "warn"]), 2);
    assert_eq!(count(&["--level", "DEBUG"]), 5);
    assert_eq!(
        count(&["--trace-id", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"]),
        1
    );
    assert_eq!(count(&["--since", "10m"]), 3);
    assert_eq!(count(&["--since", "2019-01-01T00:00:00Z"]), 5);
    assert_eq!(
        count(&["--node", "fetch", "--since", "1h", "--level", "info"]),
        1
    );
    let o = logs(state.path(), &["01RUNAAA", "--level", "loud"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("TRACE, DEBUG, INFO, WARN, ERROR"));
    let o = logs(state.path(), &["01RUNAAA", "--since", "sometime"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn captured_output_of_a_node_attempt() {
    let (state, _) = layout();
    let o = logs(state.path(), &["01RUNAAA", "--node", "fetch", "--stdout"]);
    assert_eq!(stdout(&o), "second attempt out\n");
    let o = logs(
        state.path(),
        &["01RUNAAA", "--node", "fetch", "--stdout", "--attempt", "1"],
    );
    assert_eq!(stdout(&o), "first attempt out\n");
    let o = logs(state.path(), &["01RUNAAA", "--node", "fetch", "--stderr"]);
    assert_eq!(stdout(&o), "oops\n");
    let o = logs(state.path(), &["01RUNAAA", "--node", "nope", "--stderr"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("fetch"),
        "names the nodes that have output: {}",
        stderr(&o)
    );
    let o = logs(state.path(), &["01RUNAAA", "--stdout"]);
    assert_eq!(o.status.code(), Some(2), "--stdout needs --node");
}

/// SPEC §4: a stream a tool never wrote to has no file, and an attempt that wrote nothing
/// no directory (half the inodes per node for silent tools); `logs --stdout/--stderr`
/// shows such a recorded attempt as empty output, not an error.
#[test]
fn streams_never_written_have_no_file_and_read_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("quiet.yaml");
    std::fs::write(
        &recipe,
        "version: \"1.0\"\nname: quiet\nnodes:\n  - id: silent\n    command: [\"true\"]\n  - id: talk\n    depends_on: [silent]\n    run: \"echo only-stderr >&2\"\n",
    )
    .unwrap();
    let state = dir.path().join("state");
    let o = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args([
            "run-workflow",
            "--quiet",
            "--run-id",
            "01QUIET",
            "--state-dir",
        ])
        .arg(&state)
        .arg(&recipe)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = state.join("runs/01QUIET");
    assert!(
        !run.join("nodes/silent").exists(),
        "no inode for a silent node"
    );
    assert!(run.join("nodes/talk/1/stderr.log").is_file());
    assert!(!run.join("nodes/talk/1/stdout.log").exists());
    let o = logs(&state, &["01QUIET", "--node", "silent", "--stdout"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    let o = logs(
        &state,
        &["01QUIET", "--node", "silent", "--stderr", "--attempt", "1"],
    );
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    let o = logs(&state, &["01QUIET", "--node", "talk", "--stdout"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), String::new()));
    let o = logs(&state, &["01QUIET", "--node", "talk", "--stderr"]);
    assert_eq!(stdout(&o), "only-stderr\n");
    // An attempt the run never had is still an error.
    let o = logs(
        &state,
        &["01QUIET", "--node", "talk", "--stderr", "--attempt", "2"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn run_argument_resolution() {
    let (state, run) = layout();
    assert!(logs(state.path(), &["01RUNAAA"]).status.success());
    let o = logs(state.path(), &["01RUN"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("01RUNAAA, 01RUNAAB"), "{}", stderr(&o));
    let o = logs(state.path(), &["last", "--raw"]);
    assert_eq!(
        stdout(&o).lines().count(),
        5,
        "last is the newest run: {}",
        stderr(&o)
    );
    let copied = tempfile::tempdir().unwrap();
    let dest = copied.path().join("copy");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::copy(run.join("logs.jsonl"), dest.join("logs.jsonl")).unwrap();
    let o = logs(state.path(), &[dest.to_str().unwrap(), "--raw"]);
    assert_eq!(stdout(&o).lines().count(), 5);
    let o = logs(state.path(), &["01ZZZ"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no run matches `01ZZZ`"));
}

#[test]
fn a_bad_line_in_the_middle_is_reported_with_its_number() {
    let (state, run) = layout();
    let text = std::fs::read_to_string(run.join("logs.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "not json");
    std::fs::write(run.join("logs.jsonl"), lines.join("\n")).unwrap();
    let o = logs(state.path(), &["01RUNAAA", "--raw"]);
    assert!(stderr(&o).contains("line 3"), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().count(),
        5,
        "the other records still print"
    );
}

#[test]
fn invalid_log_level_env_is_a_usage_error() {
    let (state, _) = layout();
    let o = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["logs", "01RUNAAA"])
        .env("SECFLOW_HOME", state.path())
        .env("SECFLOW_LOG_LEVEL", "chatty")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("SECFLOW_LOG_LEVEL")
            && stderr(&o).contains("TRACE, DEBUG, INFO, WARN, ERROR")
    );
}

#[test]
fn follow_tails_a_running_run_until_it_ends() {
    let (state, run) = layout();
    std::fs::write(run.join("run.json"), run_json("running")).unwrap();
    let logs_path = run.join("logs.jsonl");
    let text = std::fs::read_to_string(&logs_path).unwrap();
    // Drop the torn tail: in a live run it is a line still being written.
    let keep: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    std::fs::write(&logs_path, keep).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["logs", "01RUNAAA", "--follow", "--raw"])
        .env("SECFLOW_HOME", state.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog, so a broken --follow fails the test instead of hanging it.
    let pid = child.id() as i32;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // SAFETY: plain kill(2) of the child we spawned.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut got = String::new();
    for _ in 0..5 {
        out.read_line(&mut got).unwrap();
    }
    // Append half a line, then the rest: follow prints it only once it is complete.
    let new = line(&record(
        SystemTime::now(),
        LogLevel::Info,
        Some("late"),
        "node started",
    ));
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&logs_path)
        .unwrap();
    f.write_all(&new.as_bytes()[..20]).unwrap();
    f.flush().unwrap();
    f.write_all(&new.as_bytes()[20..]).unwrap();
    let mut late = String::new();
    out.read_line(&mut late).unwrap();
    assert_eq!(late, new);
    std::fs::write(run.join("run.json"), run_json("succeeded")).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "");
}

/// Runs `logs RUN --follow` and returns its output and how long it took (killed after 20 s).
fn follow_for(state: &Path) -> (Output, Duration) {
    let child = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["logs", "01RUNAAA", "--follow", "--raw"])
        .env("SECFLOW_HOME", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let t = std::time::Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        if !flag.load(std::sync::atomic::Ordering::SeqCst) {
            // SAFETY: plain kill(2) of the child we spawned, still unreaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    (out, t.elapsed())
}

/// `--follow` ends or says why within a bounded time when run.json is missing, empty or
/// corrupt, and ends when the recorded pid now belongs to a younger process (issue 24 point
/// 4: it followed forever).
#[test]
fn follow_ends_or_says_why_when_the_run_cannot_be_told() {
    for (case, content) in [
        ("missing", None),
        ("empty", Some(String::new())),
        ("corrupt", Some("{\"status\": \"runn".to_string())),
    ] {
        let (state, run) = layout();
        std::fs::remove_file(run.join("run.json")).unwrap();
        if let Some(text) = content {
            std::fs::write(run.join("run.json"), text).unwrap();
        }
        let (out, took) = follow_for(state.path());
        assert_eq!(out.status.code(), Some(2), "{case}: {}", stderr(&out));
        assert!(took < Duration::from_secs(10), "{case}: {took:?}");
        assert!(
            stderr(&out).contains("cannot tell whether the run is still going"),
            "{case}: {}",
            stderr(&out)
        );
        assert_eq!(
            stdout(&out).lines().count(),
            5,
            "{case}: the records still print"
        );
    }
    // The recorded pid is alive but started after the run did: reused, the run is over.
    let (state, run) = layout();
    let mut younger = Command::new("sleep").arg("30").spawn().unwrap();
    let started = SystemTime::now() - Duration::from_secs(3600);
    std::fs::write(
        run.join("run.json"),
        format!(
            r#"{{"run_id":"01RUNAAA","status":"running","started_at":"{}","pid":{},"host":"{}"}}"#,
            secflow::store::clock::rfc3339_ms(started),
            younger.id(),
            secflow::store::layout::host_name()
        ),
    )
    .unwrap();
    let (out, took) = follow_for(state.path());
    let _ = younger.kill();
    let _ = younger.wait();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "{took:?}");
}

/// `--node` takes ids, never paths; an unknown node exits 2 listing the run's node ids
/// (escaped) — SPEC §10 (issue 24 point 9, issue 19 point 5).
#[test]
fn node_arguments_are_ids_and_unknown_ones_exit_2() {
    let (state, run) = layout();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("1")).unwrap();
    std::fs::write(outside.path().join("1/stdout.log"), "SECRET OUTSIDE\n").unwrap();
    let abs = outside.path().to_str().unwrap().to_string();
    for node in [abs.as_str(), "../../../../tmp", "..", ".", "a/b"] {
        let o = logs(state.path(), &["01RUNAAA", "--node", node, "--stdout"]);
        assert_eq!(o.status.code(), Some(2), "{node}");
        assert!(!stdout(&o).contains("SECRET"), "{node}");
        assert!(
            stderr(&o).contains("--node takes a node id"),
            "{}",
            stderr(&o)
        );
    }
    let mut rec: serde_json::Value = serde_json::from_str(&run_json("succeeded")).unwrap();
    rec["nodes"] =
        serde_json::json!([{"node_id": "fetch"}, {"node_id": "parse"}, {"node_id": "x\u{1b}[2J"}]);
    std::fs::write(run.join("run.json"), rec.to_string()).unwrap();
    for extra in [&[][..], &["--stdout"]] {
        let o = logs(
            state.path(),
            &[&["last", "--node", "nosuch"], extra].concat(),
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("fetch, parse, x\\u{1b}[2J"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err}");
    }
    let o = logs(state.path(), &["last", "--node", "parse", "--raw"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
}

/// Found by the adversarial probe: a tool can plant symlinks in its own run directory; the
/// captured-output reader followed them (`stdout.log -> /elsewhere`, a linked attempt dir).
#[test]
fn captured_output_never_follows_a_symlink_out_of_the_run() {
    let (state, run) = layout();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("stdout.log"), "SECRET OUTSIDE\n").unwrap();
    let attempt = run.join("nodes/fetch/2");
    std::fs::remove_file(attempt.join("stdout.log")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("stdout.log"),
        attempt.join("stdout.log"),
    )
    .unwrap();
    let o = logs(state.path(), &["01RUNAAA", "--node", "fetch", "--stdout"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stdout(&o).contains("SECRET"));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    // A linked attempt directory likewise.
    std::fs::remove_dir_all(&attempt).unwrap();
    std::os::unix::fs::symlink(outside.path(), &attempt).unwrap();
    let o = logs(
        state.path(),
        &["01RUNAAA", "--node", "fetch", "--stdout", "--attempt", "2"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stdout(&o).contains("SECRET"));
}

/// The pretty view escapes control characters of every record field (issue 24 point 2).
#[test]
fn pretty_view_escapes_control_characters() {
    let (state, run) = layout();
    let mut r = record(
        SystemTime::now(),
        LogLevel::Info,
        Some("n\u{1b}]0;PWNED\u{7}"),
        "x\u{1b}[2J\r\nFAKE run succeeded",
    );
    r.metadata.insert(
        "k\u{1b}".into(),
        serde_json::Value::String("v\u{1b}[31m".into()),
    );
    std::fs::write(run.join("logs.jsonl"), line(&r)).unwrap();
    let o = logs(state.path(), &["01RUNAAA"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(!text.contains(['\u{1b}', '\r', '\u{7}']), "{text:?}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("x\\u{1b}[2J\\r\\nFAKE"), "{text}");
}

/// A million invalid lines cost a count, not a million warnings (hostile input stays cheap).
#[test]
fn many_invalid_lines_are_counted_not_each_named() {
    let (state, run) = layout();
    let mut text = std::fs::read_to_string(run.join("logs.jsonl")).unwrap();
    let keep: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    text = keep.clone() + &"garbage\n".repeat(100_000) + &keep;
    std::fs::write(run.join("logs.jsonl"), text).unwrap();
    let o = logs(state.path(), &["01RUNAAA", "--raw"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 10);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 11, "{err}");
    assert!(err.contains("99990 more invalid lines skipped"), "{err}");
}

/// A node's captured output printed to a terminal shows its escape sequences escaped; piped,
/// it is byte for byte what the tool wrote.
#[test]
fn captured_output_is_escaped_on_a_terminal_only() {
    let (state, run) = layout();
    std::fs::write(
        run.join("nodes/fetch/2/stdout.log"),
        "a\u{1b}]0;PWNED\u{7}b\n",
    )
    .unwrap();
    let piped = logs(state.path(), &["01RUNAAA", "--node", "fetch", "--stdout"]);
    assert_eq!(stdout(&piped), "a\u{1b}]0;PWNED\u{7}b\n");
    let cmd = format!(
        "'{}' logs 01RUNAAA --node fetch --stdout",
        env!("CARGO_BIN_EXE_secflow")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("SECFLOW_HOME", state.path())
        .output()
        .expect("util-linux script");
    let text = stdout(&out);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("a\\u{1b}]0;PWNED\\u{7}b"), "{text:?}");
}
