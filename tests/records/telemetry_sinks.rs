//! The log and span sinks driven directly with a synthetic run: what each event becomes,
//! span parentage, redaction everywhere, and a lossless 100 000-event burst.

use crate::support;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use secflow::engine::{Event, Level, RunContext, Sink, TraceIds};
use secflow::sinks::{LogSink, SpanSink};
use secflow::store::jsonl::read_all;
use secflow::store::{AttemptRecord, NodeStatus, OutputRecord, RunRecord, RunStatus};
use secflow::telemetry::log::messages;
use secflow::telemetry::span::StatusCode;
use secflow::telemetry::{LogRecord, SpanRecord, resolve_log_settings};

const SECRET: &str = "s3cr3t-value-42";
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ROOT: &str = "a1a1a1a1a1a1a1a1";
const INBOUND: &str = "00f067aa0ba902b7";

const RECIPE: &str = r#"
version: "1.0"
name: wf-test
secrets: [API_TOKEN]
vars:
  x: "1"
nodes:
  - id: fetch
    run: "echo {{ vars.x }}"
    config:
      api_key: abc
      threads: 3
    outputs: [pages]
  - id: parse
    command: [cat, "{{ inputs.pages }}"]
    inputs: [pages]
"#;

fn context(run_dir: &Path) -> RunContext {
    let mut ctx = support::context(run_dir, support::plan_of(RECIPE));
    ctx.run_id = "01TESTRUN".into();
    ctx.trace = TraceIds {
        trace_id: TRACE.into(),
        root_span_id: ROOT.into(),
        parent_span_id: Some(INBOUND.into()),
    };
    ctx.started_at = SystemTime::now();
    ctx.secret_values = vec![SECRET.into()];
    ctx
}

fn attempt(n: u32, status: NodeStatus, error: Option<&str>) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        status,
        exit_code: Some(if status == NodeStatus::Succeeded {
            0
        } else {
            3
        }),
        signal: None,
        queued_at: "2026-11-23T12:00:00.000Z".into(),
        started_at: Some("2026-11-23T12:00:00.001Z".into()),
        ended_at: Some("2026-11-23T12:00:00.050Z".into()),
        queue_wait_ms: Some(1),
        duration_ms: Some(49),
        cpu_user_ms: Some(10),
        cpu_system_ms: Some(2),
        peak_rss_bytes: Some(4096),
        retry_delay_ms: None,
        executor_job_id: None,
        error: error.map(str::to_string),
        read_bytes: None,
        write_bytes: None,
        killed_descendants: None,
    }
}

fn run_record(ctx: &RunContext, status: RunStatus) -> RunRecord {
    serde_json::from_value(serde_json::json!({
        "schema_version": 1, "run_id": ctx.run_id,
        "workflow": {"name": "wf-test", "recipe_path": "test.yaml", "recipe_sha256": "0"},
        "status": status, "exit_code": 1, "started_at": "2026-11-23T12:00:00.000Z",
        "ended_at": null, "duration_ms": null, "executor": "local", "concurrency": 2,
        "vars": {}, "resumed_from": null, "trace_id": TRACE, "pid": 1, "host": "h",
        "nodes": [], "counts": {"succeeded": 0, "failed": 0, "skipped": 0, "cached": 0,
        "cancelled": 0, "timed_out": 0}, "findings_count": 0
    }))
    .expect("run record")
}

/// fetch fails once (the error mentions the secret), is retried and succeeds; parse fails.
fn events(t0: SystemTime) -> Vec<Event> {
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    vec![
        Event::RunStarted { at: at(0) },
        Event::NodeQueued {
            node: 0,
            attempt: 1,
            at: at(1),
        },
        Event::AttemptStarted {
            node: 0,
            attempt: 1,
            node_span_id: "b0b0b0b0b0b0b0b0".into(),
            span_id: "c1c1c1c1c1c1c1c1".into(),
            pid: Some(111),
            executor_job_id: None,
            at: at(2),
        },
        Event::Message {
            level: Level::Debug,
            node: Some(0),
            text: "spawned".into(),
            at: at(3),
        },
        Event::AttemptFinished {
            node: 0,
            record: attempt(1, NodeStatus::Failed, Some(&format!("bad token {SECRET}"))),
            at: at(10),
        },
        Event::NodeRetrying {
            node: 0,
            next_attempt: 2,
            delay: Duration::from_millis(5),
            error: format!("exit 3 ({SECRET})"),
            at: at(10),
        },
        Event::AttemptStarted {
            node: 0,
            attempt: 2,
            node_span_id: "b0b0b0b0b0b0b0b0".into(),
            span_id: "c2c2c2c2c2c2c2c2".into(),
            pid: Some(112),
            executor_job_id: None,
            at: at(15),
        },
        Event::AttemptFinished {
            node: 0,
            record: attempt(2, NodeStatus::Succeeded, None),
            at: at(40),
        },
        Event::NodeOutputs {
            node: 0,
            outputs: std::collections::BTreeMap::from([(
                "pages".to_string(),
                OutputRecord {
                    path: "datasets/pages.jsonl".into(),
                    records: 7,
                    sha256: Some("ab".repeat(32)),
                    bytes: Some(120),
                },
            )]),
            at: at(41),
        },
        Event::NodeFinished {
            node: 0,
            status: NodeStatus::Succeeded,
            reason: None,
            findings_count: 7,
            at: at(41),
        },
        Event::AttemptStarted {
            node: 1,
            attempt: 1,
            node_span_id: "d0d0d0d0d0d0d0d0".into(),
            span_id: "e1e1e1e1e1e1e1e1".into(),
            pid: Some(113),
            executor_job_id: None,
            at: at(42),
        },
        Event::AttemptFinished {
            node: 1,
            record: attempt(1, NodeStatus::Failed, Some("exit status 3")),
            at: at(50),
        },
        Event::NodeFinished {
            node: 1,
            status: NodeStatus::Failed,
            reason: Some("exit status 3".into()),
            findings_count: 0,
            at: at(50),
        },
        Event::Message {
            level: Level::Warn,
            node: None,
            text: format!("secret in a message: {SECRET}"),
            at: at(51),
        },
        Event::RunFinished {
            status: RunStatus::Failed,
            exit_code: 1,
            at: at(52),
        },
    ]
}

fn drive(sinks: &mut [&mut dyn Sink], ctx: &RunContext, events: &[Event]) {
    for e in events {
        for s in sinks.iter_mut() {
            s.event(ctx, e);
        }
    }
    let mut record = run_record(ctx, RunStatus::Failed);
    for s in sinks.iter_mut() {
        s.finish(ctx, &mut record).expect("finish");
    }
}

fn grep_dir(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(grep_dir(&path, needle));
        } else if std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains(needle)
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[test]
fn log_records_carry_their_span_and_fixed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let settings = resolve_log_settings(None, false).unwrap();
    let mut logs = LogSink::open(&ctx, &settings).unwrap();
    drive(&mut [&mut logs], &ctx, &events(SystemTime::now()));

    let (records, torn) = read_all::<LogRecord>(&dir.path().join("logs.jsonl")).unwrap();
    assert_eq!(torn, 0);
    let msgs: Vec<&str> = records.iter().map(|r| r.message.as_str()).collect();
    // INFO by default: no "node queued", no debug "spawned".
    assert!(
        !msgs.contains(&messages::NODE_QUEUED) && !msgs.contains(&"spawned"),
        "{msgs:?}"
    );
    for r in &records {
        assert_eq!(r.trace_id.as_deref(), Some(TRACE));
        assert_eq!(r.run_id.as_deref(), Some("01TESTRUN"));
        assert_eq!(r.workflow_id.as_deref(), Some("wf-test"));
        assert_eq!(r.timestamp.len(), 24, "{}", r.timestamp);
        assert!(r.timestamp.ends_with('Z'));
    }
    let find = |m: &str, node: &str| {
        records
            .iter()
            .find(|r| r.message == m && r.node_id.as_deref() == Some(node))
            .unwrap_or_else(|| panic!("no `{m}` for {node}: {msgs:?}"))
    };
    assert_eq!(records[0].message, messages::RUN_STARTED);
    assert_eq!(records[0].span_id.as_deref(), Some(ROOT));
    let started = find(messages::NODE_STARTED, "fetch");
    assert_eq!(started.span_id.as_deref(), Some("c1c1c1c1c1c1c1c1"));
    let retry = find(messages::NODE_RETRYING, "fetch");
    assert_eq!(retry.span_id.as_deref(), Some("b0b0b0b0b0b0b0b0"));
    assert_eq!(retry.error.as_ref().unwrap().message, "exit 3 ([REDACTED])");
    let done = find(messages::NODE_COMPLETED, "fetch");
    assert_eq!(
        (done.attempt, done.findings_count, done.success),
        (Some(2), Some(7), Some(true))
    );
    assert_eq!(done.duration_ms, Some(39));
    assert_eq!(done.plugin_name.as_deref(), Some("exec"));
    let failed = find(messages::NODE_FAILED, "parse");
    assert_eq!(failed.error.as_ref().unwrap().kind, "failed");
    let end = records.last().unwrap();
    assert_eq!(
        (end.message.as_str(), end.success),
        (messages::RUN_FINISHED, Some(false))
    );
    // Absent values are omitted, never null.
    let text = std::fs::read_to_string(dir.path().join("logs.jsonl")).unwrap();
    assert!(!text.contains("null"));
    assert!(grep_dir(dir.path(), SECRET).is_empty());
}

#[test]
fn debug_level_keeps_debug_records() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let settings = resolve_log_settings(Some("secflow::engine=debug"), false).unwrap();
    let mut logs = LogSink::open(&ctx, &settings).unwrap();
    drive(&mut [&mut logs], &ctx, &events(SystemTime::now()));
    let (records, _) = read_all::<LogRecord>(&dir.path().join("logs.jsonl")).unwrap();
    let spawned = records
        .iter()
        .find(|r| r.message == "spawned")
        .expect("debug message kept");
    assert_eq!(spawned.span_id.as_deref(), Some("c1c1c1c1c1c1c1c1"));
    assert!(records.iter().any(|r| r.message == messages::NODE_QUEUED));
    let outputs = records
        .iter()
        .find(|r| r.message == messages::NODE_OUTPUTS)
        .unwrap();
    assert_eq!(outputs.metadata["outputs"]["pages"]["records"], 7);
}

#[test]
fn spans_form_one_trace_under_the_inbound_parent() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let mut spans = SpanSink::open(&ctx).unwrap();
    let t0 = SystemTime::now();
    spans.phase(
        &ctx,
        "validate",
        t0 - Duration::from_millis(5),
        t0,
        Default::default(),
        None,
    );
    spans.plugin_load(
        &ctx,
        "nuclei",
        "1.0",
        t0 - Duration::from_millis(3),
        t0,
        Some(&format!("cannot read {SECRET}")),
    );
    drive(&mut [&mut spans], &ctx, &events(t0));

    let (records, _) = read_all::<SpanRecord>(&dir.path().join("spans.jsonl")).unwrap();
    let names: Vec<&str> = records.iter().map(|s| s.name.as_str()).collect();
    for want in [
        "validate",
        "plugin.load nuclei",
        "attempt fetch#1",
        "attempt fetch#2",
        "node fetch",
        "attempt parse#1",
        "node parse",
        "workflow wf-test",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    let by = |n: &str| records.iter().find(|s| s.name == n).unwrap();
    let wf = by("workflow wf-test");
    assert_eq!(
        (wf.span_id.as_str(), wf.parent_span_id.as_deref()),
        (ROOT, Some(INBOUND))
    );
    assert_eq!(wf.status.code, StatusCode::Error);
    let node = by("node fetch");
    assert_eq!(
        (node.span_id.as_str(), node.parent_span_id.as_deref()),
        ("b0b0b0b0b0b0b0b0", Some(ROOT))
    );
    assert_eq!(node.status.code, StatusCode::Ok);
    assert_eq!(node.attributes["secflow.output.pages.records"], 7);
    assert_eq!(
        node.events.len(),
        1,
        "the retry is an event on the node span"
    );
    let a1 = by("attempt fetch#1");
    assert_eq!(
        (a1.span_id.as_str(), a1.parent_span_id.as_deref()),
        ("c1c1c1c1c1c1c1c1", Some("b0b0b0b0b0b0b0b0"))
    );
    assert_eq!(a1.status.code, StatusCode::Error);
    assert_eq!(a1.attributes["secflow.node.id"], "fetch");
    assert_eq!(a1.attributes["process.pid"], 111);
    assert_eq!(a1.attributes["process.exit_code"], 3);
    assert_eq!(a1.end_time_unix_nano - a1.start_time_unix_nano, 8_000_000);
    for s in &records {
        assert_eq!(s.trace_id, TRACE);
        assert_eq!(s.resource["service.name"], "secflow");
        assert!(
            s.attributes
                .values()
                .all(|v| !v.is_object() && !v.is_array()),
            "flat attributes"
        );
    }
    assert_eq!(
        by("plugin.load nuclei").status.message.as_deref(),
        Some("cannot read [REDACTED]")
    );
    assert!(grep_dir(dir.path(), SECRET).is_empty());
}

#[test]
fn an_interrupted_run_still_closes_every_span() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let mut spans = SpanSink::open(&ctx).unwrap();
    let evs = events(SystemTime::now());
    // Stop right after fetch's second attempt started (as on SIGINT).
    drive(&mut [&mut spans], &ctx, &evs[..7]);
    let (records, _) = read_all::<SpanRecord>(&dir.path().join("spans.jsonl")).unwrap();
    let names: Vec<&str> = records.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"attempt fetch#2")
            && names.contains(&"node fetch")
            && names.contains(&"workflow wf-test"),
        "{names:?}"
    );
    assert!(
        records
            .iter()
            .filter(|s| s.name != "attempt fetch#1")
            .all(|s| s.status.code == StatusCode::Error)
    );
}

#[test]
fn burst_of_100k_events_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let settings = resolve_log_settings(None, false).unwrap();
    let mut logs = LogSink::open(&ctx, &settings).unwrap();
    let n = 100_000;
    let start = Instant::now();
    let t0 = SystemTime::now();
    for i in 0..n {
        logs.event(
            &ctx,
            &Event::Message {
                level: Level::Info,
                node: Some(i % 2),
                text: format!("burst {i}"),
                at: t0,
            },
        );
    }
    let emitted = start.elapsed();
    let mut record = run_record(&ctx, RunStatus::Succeeded);
    logs.finish(&ctx, &mut record).unwrap();
    let total = start.elapsed();
    let (records, torn) = read_all::<LogRecord>(&dir.path().join("logs.jsonl")).unwrap();
    assert_eq!(torn, 0);
    assert_eq!(records.len(), n);
    let mut seen = vec![false; n];
    for r in &records {
        let i: usize = r.message.strip_prefix("burst ").unwrap().parse().unwrap();
        seen[i] = true;
    }
    assert!(seen.iter().all(|&s| s), "every event present exactly once");
    assert_eq!(logs.stats().unwrap().lines, n as u64);
    eprintln!("burst: {n} events emitted in {emitted:?}, written and flushed in {total:?}");
}
