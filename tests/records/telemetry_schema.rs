//! `secflow schema --record log|span` validate fresh records from the real sinks, checked by
//! the real `check-jsonschema` (env CHECK_JSONSCHEMA, PATH, or /opt/cjs/bin).

use crate::support;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use secflow::engine::{Event, Level, RunContext, Sink};
use secflow::sinks::{LogSink, SpanSink};
use secflow::store::{AttemptRecord, NodeStatus, RunRecord, RunStatus};
use secflow::telemetry::resolve_log_settings;

fn check_jsonschema() -> PathBuf {
    if let Some(p) = std::env::var_os("CHECK_JSONSCHEMA") {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("check-jsonschema");
        if p.is_file() {
            return p;
        }
    }
    let p = PathBuf::from("/opt/cjs/bin/check-jsonschema");
    assert!(
        p.is_file(),
        "check-jsonschema not found; install it with \
         `python3 -m venv /opt/cjs && /opt/cjs/bin/pip install check-jsonschema` \
         or point CHECK_JSONSCHEMA at it"
    );
    p
}

fn context(run_dir: &Path) -> RunContext {
    let text = "version: \"1.0\"\nname: schema-test\nnodes:\n  - id: a\n    run: \"true\"\n";
    let mut ctx = support::context(run_dir, support::plan_of(text));
    ctx.run_id = "01SCHEMA".into();
    ctx.trace.root_span_id = "a1a1a1a1a1a1a1a1".into();
    ctx.concurrency = 1;
    ctx.started_at = SystemTime::now();
    ctx
}

fn schema(kind: &str, dir: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["schema", "--record", kind])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = dir.join(format!("{kind}.schema.json"));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

/// Writes each line of `jsonl` to its own file and validates them all; returns the count.
fn validate_lines(schema: &Path, jsonl: &Path, out_dir: &Path) -> usize {
    let text = std::fs::read_to_string(jsonl).unwrap();
    let mut files = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let p = out_dir.join(format!(
            "{}-{i}.json",
            jsonl.file_stem().unwrap().to_string_lossy()
        ));
        std::fs::write(&p, line).unwrap();
        files.push(p);
    }
    assert!(!files.is_empty());
    let out = Command::new(check_jsonschema())
        .arg("--schemafile")
        .arg(schema)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    files.len()
}

#[test]
fn fresh_log_and_span_records_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let ctx = context(&run_dir);
    let mut logs =
        LogSink::open(&ctx, &resolve_log_settings(Some("debug"), false).unwrap()).unwrap();
    let mut spans = SpanSink::open(&ctx).unwrap();
    let t0 = SystemTime::now();
    spans.phase(&ctx, "validate", t0, t0, Default::default(), None);
    let at = |ms| t0 + Duration::from_millis(ms);
    let record = AttemptRecord {
        attempt: 1,
        status: NodeStatus::Failed,
        exit_code: Some(1),
        signal: None,
        queued_at: "2026-11-23T12:00:00.000Z".into(),
        started_at: None,
        ended_at: None,
        queue_wait_ms: Some(0),
        duration_ms: Some(5),
        cpu_user_ms: Some(1),
        cpu_system_ms: Some(1),
        peak_rss_bytes: Some(1 << 20),
        retry_delay_ms: None,
        executor_job_id: None,
        error: Some("exit status 1".into()),
        read_bytes: None,
        write_bytes: None,
        killed_descendants: None,
    };
    let events = [
        Event::RunStarted { at: at(0) },
        Event::NodeQueued {
            node: 0,
            attempt: 1,
            at: at(0),
        },
        Event::AttemptStarted {
            node: 0,
            attempt: 1,
            node_span_id: "b0b0b0b0b0b0b0b0".into(),
            span_id: "c1c1c1c1c1c1c1c1".into(),
            pid: Some(7),
            executor_job_id: None,
            at: at(1),
        },
        Event::AttemptFinished {
            node: 0,
            record,
            at: at(6),
        },
        Event::NodeRetrying {
            node: 0,
            next_attempt: 2,
            delay: Duration::from_millis(1),
            error: "x".into(),
            at: at(6),
        },
        Event::NodeFinished {
            node: 0,
            status: NodeStatus::Failed,
            reason: Some("exit status 1".into()),
            findings_count: 0,
            at: at(7),
        },
        Event::Message {
            level: Level::Debug,
            node: None,
            text: "hello".into(),
            at: at(7),
        },
        Event::RunFinished {
            status: RunStatus::Failed,
            exit_code: 1,
            at: at(8),
        },
    ];
    for e in &events {
        logs.event(&ctx, e);
        spans.event(&ctx, e);
    }
    let mut rec: RunRecord = serde_json::from_value(serde_json::json!({
        "schema_version": 1, "run_id": "01SCHEMA", "workflow": {"name": "n", "recipe_path": "p", "recipe_sha256": "s"},
        "status": "failed", "exit_code": 1, "started_at": "x", "ended_at": null, "duration_ms": null,
        "executor": "local", "concurrency": 1, "vars": {}, "resumed_from": null, "trace_id": "t",
        "pid": 1, "host": "h", "nodes": [], "counts": {"succeeded": 0, "failed": 1, "skipped": 0,
        "cached": 0, "cancelled": 0, "timed_out": 0}, "findings_count": 0
    })).unwrap();
    logs.finish(&ctx, &mut rec).unwrap();
    spans.finish(&ctx, &mut rec).unwrap();

    let logs_n = validate_lines(
        &schema("log", dir.path()),
        &run_dir.join("logs.jsonl"),
        dir.path(),
    );
    let spans_n = validate_lines(
        &schema("span", dir.path()),
        &run_dir.join("spans.jsonl"),
        dir.path(),
    );
    assert_eq!(logs_n, events.len());
    assert_eq!(spans_n, 4, "validate, attempt, node, workflow");
}

#[test]
fn the_log_schema_rejects_a_bad_record() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema("log", dir.path());
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"schema_version":1,"timestamp":"t","level":"LOUD","logger":"x","message":"m"}"#,
    )
    .unwrap();
    let out = Command::new(check_jsonschema())
        .arg("--schemafile")
        .arg(&schema)
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an unknown level must fail validation"
    );
}
