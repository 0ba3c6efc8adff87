//! A synthetic run driven through `MetricsSink` with engine-shaped events.

use crate::support;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use secflow::engine::{Event, RunContext, Sink};
use secflow::metrics::MetricsSnapshot;
use secflow::plan::{BuildOptions, build};
use secflow::recipe::{Limits, Source, parse};
use secflow::sinks::metrics::{MetricsOptions, MetricsSink};
use secflow::store::{
    AttemptRecord, Counts, NodeRecord, NodeStatus, RUN_SCHEMA_VERSION, RunRecord, RunStatus,
    WorkflowRef,
};

pub const RECIPE: &str = r#"
version: "1.0"
name: "Linear Scan / nightly"
nodes:
  - id: discovery
    type: discovery.ferox
    config:
      target: "http://127.0.0.1:8080"
    outputs: [urls]
  - id: scan
    type: scan.nuclei
    inputs: [urls]
    outputs: [findings]
  - id: report
    run: "cat {{ inputs.findings }} > {{ outputs.report }}"
    inputs: [findings]
    outputs: [report]
"#;

pub fn plan() -> secflow::plan::Plan {
    let source = Source {
        path: "synthetic.yaml".into(),
        text: RECIPE.into(),
        sha256: "0".repeat(64),
    };
    let raw = parse(&source, &Limits::default()).expect("recipe parses");
    build(&source, &raw, &BuildOptions::default())
        .map(|(plan, _)| plan)
        .unwrap_or_else(|d| panic!("recipe builds: {d:?}"))
}

pub fn context(run_dir: &Path) -> RunContext {
    let mut ctx = support::context(run_dir, plan());
    ctx.trace.trace_id = "5b8efff798038103d269b633813fc60c".into();
    ctx.trace.root_span_id = "eee19b7ec3c1b174".into();
    ctx.started_at = SystemTime::now() - Duration::from_secs(3);
    ctx
}

pub fn attempt(n: u32, status: NodeStatus, duration_ms: u64) -> AttemptRecord {
    AttemptRecord {
        attempt: n,
        status,
        exit_code: Some(if status == NodeStatus::Succeeded {
            0
        } else {
            1
        }),
        signal: None,
        queued_at: "2026-11-23T12:00:00.000Z".into(),
        started_at: Some("2026-11-23T12:00:00.010Z".into()),
        ended_at: Some("2026-11-23T12:00:01.000Z".into()),
        queue_wait_ms: Some(10),
        duration_ms: Some(duration_ms),
        cpu_user_ms: Some(300),
        cpu_system_ms: Some(200),
        peak_rss_bytes: Some(48_234_496),
        retry_delay_ms: None,
        executor_job_id: None,
        error: None,
        read_bytes: None,
        write_bytes: None,
        killed_descendants: None,
    }
}

/// Drives `sink` through a run: discovery ok (800 ms), scan fails once then succeeds with 12
/// findings (retry), report ok. Returns the final record `finish` received.
pub fn drive(sink: &mut MetricsSink, ctx: &RunContext) -> RunRecord {
    let now = SystemTime::now;
    sink.event(ctx, &Event::RunStarted { at: now() });
    let plan = ctx.plan.clone();
    let mut nodes = Vec::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        let mut attempts = Vec::new();
        let tries: &[(NodeStatus, u64)] = match node.id.as_str() {
            "scan" => &[(NodeStatus::Failed, 150), (NodeStatus::Succeeded, 2_500)],
            "discovery" => &[(NodeStatus::Succeeded, 800)],
            _ => &[(NodeStatus::Succeeded, 40)],
        };
        for (n, (status, ms)) in tries.iter().enumerate() {
            let n = n as u32 + 1;
            sink.event(
                ctx,
                &Event::NodeQueued {
                    node: i,
                    attempt: n,
                    at: now(),
                },
            );
            sink.event(
                ctx,
                &Event::AttemptStarted {
                    node: i,
                    attempt: n,
                    node_span_id: "1111111111111111".into(),
                    span_id: "2222222222222222".into(),
                    pid: Some(4242),
                    executor_job_id: None,
                    at: now(),
                },
            );
            let record = attempt(n, *status, *ms);
            sink.event(
                ctx,
                &Event::AttemptFinished {
                    node: i,
                    record: record.clone(),
                    at: now(),
                },
            );
            attempts.push(record);
            if *status == NodeStatus::Failed {
                sink.event(
                    ctx,
                    &Event::NodeRetrying {
                        node: i,
                        next_attempt: n + 1,
                        delay: Duration::from_millis(200),
                        error: "exit code 1".into(),
                        at: now(),
                    },
                );
            }
        }
        let findings = if node.id == "scan" { 12 } else { 0 };
        sink.event(
            ctx,
            &Event::NodeFinished {
                node: i,
                status: NodeStatus::Succeeded,
                reason: None,
                findings_count: findings,
                at: now(),
            },
        );
        nodes.push(NodeRecord {
            node_id: node.id.clone(),
            kind: node.kind.clone(),
            plugin_name: node.plugin_name.clone(),
            depends_on: None,
            status: NodeStatus::Succeeded,
            reason: None,
            findings_count: findings,
            outputs: Default::default(),
            cache_key: None,
            attempts,
            killed_descendants: None,
            instance: None,
        });
    }
    sink.event(
        ctx,
        &Event::RunFinished {
            status: RunStatus::Succeeded,
            exit_code: 0,
            at: now(),
        },
    );
    let mut record = RunRecord {
        schema_version: RUN_SCHEMA_VERSION,
        run_id: ctx.run_id.clone(),
        workflow: WorkflowRef {
            name: plan.name.clone(),
            recipe_path: plan.recipe_path.clone(),
            recipe_sha256: plan.recipe_sha256.clone(),
        },
        status: RunStatus::Succeeded,
        exit_code: Some(0),
        started_at: "2026-11-23T12:00:00.000Z".into(),
        ended_at: Some("2026-11-23T12:00:03.000Z".into()),
        duration_ms: Some(3_000),
        executor: "local".into(),
        concurrency: 2,
        vars: Default::default(),
        resumed_from: None,
        trace_id: ctx.trace.trace_id.clone(),
        pid: std::process::id(),
        host: "test".into(),
        nodes,
        counts: Counts {
            succeeded: 3,
            ..Counts::default()
        },
        findings_count: 12,
        audit: None,
        telemetry: None,
        reason: None,
        self_usage: None,
    };
    sink.finish(ctx, &mut record)
        .expect("finish writes metrics");
    record
}

/// A finished synthetic run under `<state>/runs/<id>/`; returns (run dir, final snapshot).
pub fn synthetic_run(state: &Path, options: MetricsOptions) -> (PathBuf, MetricsSnapshot) {
    let probe = context(state);
    let run_dir = state.join("runs").join(&probe.run_id);
    std::fs::create_dir_all(&run_dir).unwrap();
    let ctx = context(&run_dir);
    let mut sink = MetricsSink::new(options);
    let handle = sink.final_snapshot();
    let record = drive(&mut sink, &ctx);
    // A recorded run has its run.json (the RUN resolver and history read it).
    let json = serde_json::to_vec_pretty(&record).unwrap();
    std::fs::write(run_dir.join("run.json"), json).unwrap();
    let snapshot = handle.get().expect("final snapshot after finish").clone();
    (run_dir, snapshot)
}
