//! The metrics sink's heap stays flat in the number of plan nodes: a structural guard (bytes
//! allocated, counted by a test allocator), not a timing or RSS figure.
//!
//! Before the per-node series became rows and snapshots were streamed, a 10 000-node chain
//! held the whole final snapshot as `Series` values plus its JSON text (thousands of bytes a
//! node); now the sink's peak is its rows (under 100 bytes a node) plus fixed buffers.
#![allow(unsafe_code)] // libc::kill and a counting allocator in tests

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secflow::engine::{Event, RunContext, Sink, TraceIds};
use secflow::metrics::SnapshotHead;
use secflow::plan::{BuildOptions, Plan, build};
use secflow::recipe::{Limits, Source, parse};
use secflow::sinks::metrics::{MetricsOptions, MetricsSink};
use secflow::store::{
    Counts, NodeRecord, NodeStatus, RUN_SCHEMA_VERSION, RunRecord, RunStatus, WorkflowRef,
};

use crate::common::attempt;

/// Counts the bytes live on each thread (its own allocations minus its own frees) and their
/// peak, so tests running in parallel on other threads do not disturb the figure.
struct Counting;

thread_local! {
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn note(delta: i64) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters move.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on.
        unsafe { System.dealloc(ptr, layout) };
        note(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            note(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes live on this thread now, and resets the peak to that.
fn reset_peak() -> i64 {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    live
}

fn peak() -> i64 {
    PEAK.with(Cell::get)
}

fn chain_plan(n: usize) -> Plan {
    let mut text = format!("version: \"1.0\"\nname: chain-{n}\nnodes:\n");
    for i in 0..n {
        text.push_str(&format!("  - id: n{i}\n    run: \"true\"\n"));
        if i > 0 {
            text.push_str(&format!("    depends_on: [n{}]\n", i - 1));
        }
    }
    let source = Source {
        path: "chain.yaml".into(),
        text,
        sha256: "0".repeat(64),
    };
    let raw = parse(&source, &Limits::default()).expect("chain parses");
    match build(&source, &raw, &BuildOptions::default()) {
        Ok((plan, _)) => plan,
        Err(d) => panic!("chain builds: {d:?}"),
    }
}

fn record(plan: &Plan, run_id: &str) -> RunRecord {
    RunRecord {
        schema_version: RUN_SCHEMA_VERSION,
        run_id: run_id.into(),
        workflow: WorkflowRef {
            name: plan.name.clone(),
            recipe_path: plan.recipe_path.clone(),
            recipe_sha256: plan.recipe_sha256.clone(),
        },
        status: RunStatus::Succeeded,
        exit_code: Some(0),
        started_at: "2026-11-23T12:00:00.000Z".into(),
        ended_at: Some("2026-11-23T12:00:10.000Z".into()),
        duration_ms: Some(10_000),
        executor: "local".into(),
        concurrency: 1,
        vars: Default::default(),
        resumed_from: None,
        trace_id: "0".repeat(32),
        pid: std::process::id(),
        host: "test".into(),
        nodes: plan
            .nodes
            .iter()
            .map(|n| NodeRecord {
                node_id: n.id.clone(),
                kind: n.kind.clone(),
                plugin_name: n.plugin_name.clone(),
                depends_on: None,
                status: NodeStatus::Succeeded,
                reason: None,
                findings_count: 1,
                outputs: Default::default(),
                cache_key: None,
                attempts: vec![attempt(1, NodeStatus::Succeeded, 3)],
                killed_descendants: None,
                instance: None,
            })
            .collect(),
        counts: Counts {
            succeeded: plan.nodes.len() as u64,
            ..Counts::default()
        },
        findings_count: plan.nodes.len() as u64,
        audit: None,
        telemetry: None,
        reason: None,
        self_usage: None,
    }
}

#[test]
fn the_sinks_heap_per_node_stays_bounded_through_a_10000_node_run() {
    let n = 10_000;
    let plan = Arc::new(chain_plan(n));
    let dir = tempfile::tempdir().unwrap();
    let ctx = RunContext {
        records: Default::default(),
        record: Default::default(),
        run_id: "01JDMEMORY0000000000000000".into(),
        run_dir: dir.path().to_path_buf(),
        plan: plan.clone(),
        trace: TraceIds {
            trace_id: "0".repeat(32),
            root_span_id: "0".repeat(16),
            parent_span_id: None,
        },
        executor: "local".into(),
        concurrency: 1,
        started_at: SystemTime::now() - Duration::from_secs(10),
        secret_values: Vec::new(),
        resumed_from: None,
    };
    let mut rec = record(&plan, &ctx.run_id);
    let now = SystemTime::now();

    let base = reset_peak();
    let mut sink = MetricsSink::new(MetricsOptions {
        sample_interval: Duration::from_millis(20),
        sample_system: false,
        disk_path: None,
    });
    let registry = sink.registry();
    let handle = sink.final_snapshot();
    sink.event(&ctx, &Event::RunStarted { at: now });
    for node in 0..n {
        sink.event(
            &ctx,
            &Event::AttemptFinished {
                node,
                record: attempt(1, NodeStatus::Succeeded, 3),
                at: now,
            },
        );
        sink.event(
            &ctx,
            &Event::NodeFinished {
                node,
                status: NodeStatus::Succeeded,
                reason: None,
                findings_count: 1,
                at: now,
            },
        );
    }
    sink.event(
        &ctx,
        &Event::RunFinished {
            status: RunStatus::Succeeded,
            exit_code: 0,
            at: now,
        },
    );
    sink.finish(&ctx, &mut rec).expect("finish writes metrics");
    // A full snapshot streamed on this thread, as the sampler thread streams its lines.
    let head = SnapshotHead {
        schema_version: 1,
        run_id: ctx.run_id.clone(),
        workflow: plan.name.clone(),
        timestamp: "2026-11-23T12:00:00.000Z".into(),
        elapsed_ms: 0,
        is_final: false,
        partial: false,
        summary: None,
    };
    head.write_line(&mut std::io::sink(), &registry, false)
        .unwrap();
    let per_node = (peak() - base) as f64 / n as f64;

    // The files hold every node's series all the same.
    let text = std::fs::read_to_string(dir.path().join("metrics.json")).unwrap();
    assert!(text.contains(
        r#""labels":{"node_id":"n9999","plugin_name":"exec","status":"succeeded"},"value":1.0"#
    ));
    drop(text);
    let snapshot = handle.get().expect("built on demand after finish");
    let durations = snapshot
        .series
        .iter()
        .filter(|s| s.name == "secflow_node_duration_seconds")
        .count();
    assert_eq!(durations, n);
    assert!(
        per_node < 200.0,
        "the metrics sink held {per_node:.0} bytes a node at its peak"
    );
}
