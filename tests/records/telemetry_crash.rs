//! Crash safety with a real `kill -9`: a process writing logs and spans through the real
//! sinks is killed mid-burst; every file still reads line by line, except at most a torn
//! last line, and the records present are an unbroken prefix of what was sent.

use crate::support;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use secflow::engine::{Event, Level, RunContext, Sink};
use secflow::sinks::{LogSink, SpanSink};
use secflow::store::jsonl::JsonlReader;
use secflow::telemetry::{LogRecord, SpanRecord, resolve_log_settings};

const CHILD_ENV: &str = "SECFLOW_CRASH_TEST_DIR";

fn context(run_dir: &Path) -> RunContext {
    let plan =
        support::plan_of("version: \"1.0\"\nname: crash\nnodes:\n  - id: a\n    run: \"true\"\n");
    let mut ctx = support::context(run_dir, plan);
    ctx.run_id = "01CRASH".into();
    ctx.trace.root_span_id = "a1a1a1a1a1a1a1a1".into();
    ctx.concurrency = 1;
    ctx.started_at = SystemTime::now();
    ctx
}

/// The process that gets killed: writes numbered log records and attempt spans forever.
#[test]
#[ignore = "helper process for kill_9_leaves_only_a_torn_last_line"]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let ctx = context(Path::new(&dir));
    let mut logs = LogSink::open(&ctx, &resolve_log_settings(None, false).unwrap()).unwrap();
    let spans = SpanSink::open(&ctx).unwrap();
    for i in 0u64.. {
        let at = SystemTime::now();
        logs.event(
            &ctx,
            &Event::Message {
                level: Level::Info,
                node: None,
                text: format!("seq {i} {}", "x".repeat(200)),
                at,
            },
        );
        if i % 10 == 0 {
            spans.phase(
                &ctx,
                &format!("plugin.load p{i}"),
                at,
                at,
                Default::default(),
                None,
            );
        }
    }
}

#[test]
fn kill_9_leaves_only_a_torn_last_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "telemetry_crash::crash_child_writer",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir.path())
        .spawn()
        .unwrap();
    let logs = dir.path().join("logs.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&logs).map_or(0, |m| m.len()) < 4 * 1024 * 1024 {
        assert!(Instant::now() < deadline, "the child wrote too little");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let mut reader = JsonlReader::<LogRecord, _>::open(&logs).unwrap();
    let mut expected = 0u64;
    for record in reader.by_ref() {
        let record = record.expect("only the last line may be torn");
        let seq: u64 = record.message.split(' ').nth(1).unwrap().parse().unwrap();
        assert_eq!(seq, expected, "records form an unbroken prefix");
        expected += 1;
    }
    assert!(reader.torn_lines() <= 1);
    assert!(expected > 1000, "{expected} records");
    let mut spans = JsonlReader::<SpanRecord, _>::open(&dir.path().join("spans.jsonl")).unwrap();
    let mut n = 0;
    for span in spans.by_ref() {
        span.expect("only the last line may be torn");
        n += 1;
    }
    assert!(n > 0 && spans.torn_lines() <= 1);
    eprintln!(
        "after kill -9: {expected} log records and {n} spans intact, torn last lines: {} and {}",
        reader.torn_lines(),
        spans.torn_lines()
    );
}
