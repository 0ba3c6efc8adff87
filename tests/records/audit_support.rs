//! Shared by the audit tests: builds real plans from recipe text, drives an `AuditSink`
//! with a synthetic event stream, writes run.json, and runs the real `secflow` binary.

use crate::support;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use secflow::audit::{AuditKey, KeySource, Origin};
use secflow::engine::{Event, RunContext, Sink as _};
use secflow::plan::{BuildOptions, Plan, build};
use secflow::recipe::{Limits, Source, hex, parse};
use secflow::sinks::AuditSink;
use secflow::store::{
    AttemptRecord, Counts, NodeStatus, RUN_SCHEMA_VERSION, RunRecord, RunStatus, WorkflowRef,
};

use crate::support::TestRun;

/// The hex key every test writes and verifies with (32 bytes).
pub const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const RUN_ID: &str = "01JD0000000000000000000000";

pub fn key() -> AuditKey {
    let bytes: Vec<u8> = (0u8..32).collect();
    assert_eq!(hex(&bytes), KEY_HEX);
    AuditKey::from_bytes(&bytes, KeySource::Env)
}

/// A plan of `n` exec nodes in a chain, declaring one secret.
pub fn plan(n: usize) -> Plan {
    let mut text =
        String::from("version: \"1.0\"\nname: audit-chain\nsecrets: [API_TOKEN]\nnodes:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - id: n{i}\n    type: exec\n    run: \"true\"\n"
        ));
        if i > 0 {
            text.push_str(&format!("    depends_on: [n{}]\n", i - 1));
        }
    }
    let source = Source {
        path: "chain.yaml".into(),
        sha256: "ab".repeat(32),
        text,
    };
    let raw = parse(&source, &Limits::default()).expect("recipe parses");
    let (plan, _) = build(&source, &raw, &BuildOptions::default()).expect("recipe builds");
    plan
}

pub fn context(run_dir: &Path, plan: Plan) -> RunContext {
    let mut ctx = support::context(run_dir, plan);
    ctx.run_id = RUN_ID.into();
    ctx.concurrency = 4;
    ctx.started_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    ctx.secret_values = vec!["s3cr3t-value".into()];
    ctx
}

fn attempt(n: u32, status: NodeStatus, exit_code: i32) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        status,
        exit_code: Some(exit_code),
        signal: None,
        queued_at: "2026-11-23T12:00:00.000Z".into(),
        started_at: Some("2026-11-23T12:00:00.001Z".into()),
        ended_at: Some("2026-11-23T12:00:00.010Z".into()),
        queue_wait_ms: Some(1),
        duration_ms: Some(9),
        cpu_user_ms: Some(3),
        cpu_system_ms: Some(1),
        peak_rss_bytes: Some(4096),
        retry_delay_ms: None,
        executor_job_id: None,
        error: (status != NodeStatus::Succeeded)
            .then(|| "exit 1: token s3cr3t-value rejected".into()),
        read_bytes: None,
        write_bytes: None,
        killed_descendants: None,
    }
}

/// The engine's events for a run of `ctx`'s nodes: node 1 fails once and is retried.
pub fn events(ctx: &RunContext) -> Vec<Event> {
    let mut t = ctx.started_at;
    let mut tick = || {
        t += Duration::from_millis(7);
        t
    };
    let mut out = vec![Event::RunStarted { at: tick() }];
    for (i, _) in ctx.plan.nodes.iter().enumerate() {
        out.push(Event::NodeQueued {
            node: i,
            attempt: 1,
            at: tick(),
        });
        let attempts = if i == 1 { 2 } else { 1 };
        for a in 1..=attempts {
            out.push(Event::AttemptStarted {
                node: i,
                attempt: a,
                node_span_id: format!("{:016x}", i + 1),
                span_id: format!("{:016x}", 1000 + i),
                pid: Some(4242),
                executor_job_id: None,
                at: tick(),
            });
            let ok = a == attempts;
            let status = if ok {
                NodeStatus::Succeeded
            } else {
                NodeStatus::Failed
            };
            out.push(Event::AttemptFinished {
                node: i,
                record: attempt(a, status, if ok { 0 } else { 1 }),
                at: tick(),
            });
            if !ok {
                out.push(Event::NodeRetrying {
                    node: i,
                    next_attempt: a + 1,
                    delay: Duration::from_millis(250),
                    error: "exit code 1 (token s3cr3t-value)".into(),
                    at: tick(),
                });
            }
        }
        out.push(Event::NodeFinished {
            node: i,
            status: NodeStatus::Succeeded,
            reason: None,
            findings_count: 2,
            at: tick(),
        });
    }
    out.push(Event::RunFinished {
        status: RunStatus::Succeeded,
        exit_code: 0,
        at: tick(),
    });
    out
}

/// How a synthetic run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// RunFinished, `finish`, final run.json with the anchor.
    Finished,
    /// Killed before RunFinished: no terminal event, run.json still says `running`.
    Crashed,
}

/// Writes `<state>/runs/<RUN_ID>/{audit.jsonl,run.json}` for a run of `nodes` nodes and
/// returns the run directory.
pub fn write_run(state: &Path, nodes: usize, ending: Ending) -> PathBuf {
    write_run_with(state, nodes, ending, &key())
}

/// [`write_run`] with a given key.
pub fn write_run_with(state: &Path, nodes: usize, ending: Ending, key: &AuditKey) -> PathBuf {
    let run_dir = state.join("runs").join(RUN_ID);
    let ctx = context(&run_dir, plan(nodes));
    let origin = Origin::discover(state);
    let mut sink = AuditSink::create(&ctx, key, &origin).expect("audit sink");
    let mut all = events(&ctx);
    if ending == Ending::Crashed {
        all.truncate(all.len() - 1);
    }
    for e in &all {
        sink.event(&ctx, e);
    }
    let mut record = run_record(&ctx);
    if ending == Ending::Finished {
        record.status = RunStatus::Succeeded;
        record.exit_code = Some(0);
        sink.finish(&ctx, &mut record).expect("finish");
    }
    drop(sink);
    write_json(&run_dir.join("run.json"), &record);
    run_dir
}

pub fn run_record(ctx: &RunContext) -> RunRecord {
    RunRecord {
        schema_version: RUN_SCHEMA_VERSION,
        run_id: ctx.run_id.clone(),
        workflow: WorkflowRef {
            name: ctx.plan.name.clone(),
            recipe_path: ctx.plan.recipe_path.clone(),
            recipe_sha256: ctx.plan.recipe_sha256.clone(),
        },
        status: RunStatus::Running,
        exit_code: None,
        started_at: "2026-11-23T12:00:00.000Z".into(),
        ended_at: None,
        duration_ms: None,
        executor: "local".into(),
        concurrency: 4,
        vars: Default::default(),
        resumed_from: None,
        trace_id: ctx.trace.trace_id.clone(),
        pid: std::process::id(),
        host: "test".into(),
        nodes: Vec::new(),
        counts: Counts::default(),
        findings_count: 0,
        audit: None,
        telemetry: None,
        reason: None,
        self_usage: None,
    }
}

pub fn write_json(path: &Path, value: &impl serde::Serialize) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// `secflow audit verify --format json TARGET` → (exit code, parsed output).
pub fn verify_json(target: &Path, key_hex: Option<&str>) -> (i32, serde_json::Value) {
    let out = TestRun::cmd([
        "audit",
        "verify",
        "--format",
        "json",
        target.to_str().unwrap(),
    ])
    .env_opt("SECFLOW_AUDIT_KEY", key_hex)
    .output();
    let code = out.status.code().expect("exit code");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); exit {code}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json)
}
