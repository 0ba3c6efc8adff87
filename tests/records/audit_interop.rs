//! The audit format as others see it: an independent Python verifier written from the SPEC
//! alone agrees with `secflow audit verify`, every event validates against
//! `secflow schema --record audit` (check-jsonschema), and every line round-trips through
//! the shared `AuditEvent` type byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::audit_support;
use crate::audit_support::{Ending, KEY_HEX, read_lines, verify_json, write_lines, write_run};
use crate::support::TestRun;
use secflow::audit::AuditEvent;

/// A state directory whose path (and so every event's `working_directory`) holds
/// non-ASCII text, a quote, a backslash and a tab, to pin string escaping.
fn awkward_state(dir: &Path) -> PathBuf {
    let state = dir.join("état \"q\" \\ \t✓");
    std::fs::create_dir_all(&state).unwrap();
    state
}

fn python(run: &Path, key_hex: &str) -> i32 {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_audit.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(run.join("audit.jsonl"))
        .arg(run.join("run.json"))
        .env("SECFLOW_AUDIT_KEY", key_hex)
        .output()
        .expect("python3 runs");
    out.status.code().expect("exit code")
}

/// Changes the lines of an audit file.
type Tampering = fn(&mut Vec<String>);

#[test]
fn the_python_verifier_agrees_with_secflow() {
    let dir = tempfile::tempdir().unwrap();
    let state = awkward_state(dir.path());
    let run = write_run(&state, 5, Ending::Finished);
    let audit = run.join("audit.jsonl");
    let pristine = read_lines(&audit);
    assert!(pristine[0].contains(r#"\"q\" \\ \t✓"#), "{}", pristine[0]);

    assert_eq!(python(&run, KEY_HEX), 0);
    assert_eq!(verify_json(&run, Some(KEY_HEX)).0, 0);
    assert_eq!(python(&run, &"ee".repeat(32)), 2, "wrong key");

    let tamperings: [(&str, Tampering); 5] = [
        ("edit", |l| {
            l[5] = l[5].replacen("\"seq\":6", "\"seq\":7", 1)
        }),
        ("insert", |l| l.insert(4, l[3].clone())),
        ("delete", |l| drop(l.remove(6))),
        ("swap", |l| l.swap(7, 8)),
        ("cut", |l| l.truncate(12)),
    ];
    for (name, tamper) in tamperings {
        let mut lines = pristine.clone();
        tamper(&mut lines);
        write_lines(&audit, &lines);
        assert_eq!(python(&run, KEY_HEX), 1, "python on {name}");
        assert_eq!(verify_json(&run, Some(KEY_HEX)).0, 1, "secflow on {name}");
    }
    write_lines(&audit, &pristine);
    assert_eq!(python(&run, KEY_HEX), 0);

    // Re-serialized by another tool (spaces after `,` and `:`, \u escapes): not the
    // canonical bytes any more, still the same events.
    let respaced = Command::new("python3")
        .args([
            "-c",
            "import json,sys\nfor l in open(sys.argv[1]): print(json.dumps(json.loads(l)))",
        ])
        .arg(&audit)
        .output()
        .unwrap();
    assert!(respaced.status.success());
    std::fs::write(&audit, &respaced.stdout).unwrap();
    assert_ne!(read_lines(&audit), pristine);
    assert_eq!(verify_json(&run, Some(KEY_HEX)).0, 0);
    assert_eq!(python(&run, KEY_HEX), 0);
    write_lines(&audit, &pristine);

    let crashed = write_run(&dir.path().join("crashed"), 3, Ending::Crashed);
    assert_eq!(python(&crashed, KEY_HEX), 3);
    assert_eq!(verify_json(&crashed, Some(KEY_HEX)).0, 3);
}

#[test]
fn every_line_round_trips_through_audit_event_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(&awkward_state(dir.path()), 3, Ending::Finished);
    let key = audit_support::key();
    for line in read_lines(&run.join("audit.jsonl")) {
        let mut event: AuditEvent = serde_json::from_str(&line).unwrap();
        let hash = event.hash.clone();
        let resealed = event.seal(&key).unwrap();
        assert_eq!(event.hash, hash);
        assert_eq!(String::from_utf8(resealed).unwrap(), format!("{line}\n"));
    }
}

fn check_jsonschema() -> PathBuf {
    if let Some(p) = std::env::var_os("CHECK_JSONSCHEMA") {
        return p.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("check-jsonschema"))
        .find(|p| p.is_file());
    let local = PathBuf::from("/opt/cjs/bin/check-jsonschema");
    match on_path {
        Some(p) => p,
        None if local.is_file() => local,
        None => panic!(
            "check-jsonschema not found (set CHECK_JSONSCHEMA or install it: \
             python3 -m venv /opt/cjs && /opt/cjs/bin/pip install check-jsonschema)"
        ),
    }
}

#[test]
fn events_validate_against_the_published_schema() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(&dir.path().join("state"), 3, Ending::Finished);
    let out = TestRun::cmd(["schema", "--record", "audit"]).output();
    assert_eq!(out.status.code(), Some(0));
    let schema_path = dir.path().join("audit.schema.json");
    std::fs::write(&schema_path, &out.stdout).unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "secflow audit event (audit.jsonl)");

    let mut instances = Vec::new();
    for (i, line) in read_lines(&run.join("audit.jsonl")).iter().enumerate() {
        let p = dir.path().join(format!("event-{i}.json"));
        std::fs::write(&p, line).unwrap();
        instances.push(p);
    }
    assert!(instances.len() > 5);
    let status = |extra: &[PathBuf]| {
        let out = Command::new(check_jsonschema())
            .arg("--schemafile")
            .arg(&schema_path)
            .args(extra)
            .output()
            .expect("check-jsonschema runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = status(&instances);
    assert_eq!(code, Some(0), "{stdout}");

    // The schema has teeth: an event without `seq` is refused.
    let mut bad: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&instances[0]).unwrap()).unwrap();
    bad.as_object_mut().unwrap().remove("seq");
    let bad_path = dir.path().join("bad.json");
    std::fs::write(&bad_path, bad.to_string()).unwrap();
    assert_ne!(status(&[bad_path]).0, Some(0));
}

#[test]
fn engine_events_map_to_the_spec_event_types() {
    use secflow::audit::Origin;
    use secflow::engine::{Event, Sink as _};
    use secflow::sinks::AuditSink;
    use secflow::store::{NodeStatus, RunStatus};

    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("runs").join(audit_support::RUN_ID);
    let mut ctx = audit_support::context(&run_dir, audit_support::plan(3));
    ctx.resumed_from = Some("01JC0000000000000000000000".into());
    let key = audit_support::key();
    let mut sink = AuditSink::create(&ctx, &key, &Origin::discover(dir.path())).unwrap();
    let at = ctx.started_at;
    let finished = |node, status| Event::NodeFinished {
        node,
        status,
        reason: Some("because".into()),
        findings_count: 0,
        at,
    };
    let stream = [
        Event::RunStarted { at },
        Event::AttemptStarted {
            node: 0,
            attempt: 1,
            node_span_id: "00000000000000aa".into(),
            span_id: "00000000000000ab".into(),
            pid: None,
            executor_job_id: Some("slurm-42".into()),
            at,
        },
        finished(0, NodeStatus::TimedOut),
        finished(1, NodeStatus::Skipped),
        finished(2, NodeStatus::Cached),
        Event::Message {
            level: secflow::engine::Level::Warn,
            node: None,
            text: "not audited".into(),
            at,
        },
    ];
    for e in &stream {
        sink.event(&ctx, e);
    }
    // The engine was cancelled before it sent RunFinished: finish writes the terminal event.
    let mut record = audit_support::run_record(&ctx);
    record.status = RunStatus::Cancelled;
    record.exit_code = Some(130);
    sink.finish(&ctx, &mut record).unwrap();
    audit_support::write_json(&run_dir.join("run.json"), &record);
    let summary = record.audit.clone().unwrap();
    assert_eq!(summary.events, 9);
    assert!(summary.anchor.is_some());

    let events: Vec<AuditEvent> = read_lines(&run_dir.join("audit.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "workflow.run.started",
            "workflow.run.resumed",
            "plugin.loaded",
            "secret.accessed",
            "node.started",
            "node.timed_out",
            "node.skipped",
            "node.cached",
            "workflow.run.cancelled",
        ]
    );
    assert_eq!(events[4].data.executor_job_id.as_deref(), Some("slurm-42"));
    assert_eq!(events[4].trace_context.span_id, "00000000000000aa");
    assert_eq!(events[5].trace_context.span_id, "00000000000000aa");
    assert_eq!(events[8].data.exit_code, Some(130));
    assert_eq!(events[8].seq, 9);
    assert_eq!(events[8].hash, summary.last_hash);
    assert_eq!(events[0].prev_hash, secflow::audit::GENESIS_HASH);
    assert_eq!(verify_json(&run_dir, Some(KEY_HEX)).0, 0);
}
