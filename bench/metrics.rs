//! Metrics cost figures (`cargo bench --bench metrics -- [hot] [sampler SECONDS]`).
//!
//! `hot`: a CHAIN-1000 plan's whole event stream (4 events a node) through a no-op sink and
//! through `MetricsSink` (on vs off), the final snapshot + `metrics.json`, and one periodic
//! snapshot (full and partial) at 1000 nodes. `sampler SECONDS`: the sampler thread's CPU over
//! a run of that length at the default 1 s interval, as the thread's own rusage and as the
//! whole process's CPU while the main thread sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use secflow::engine::{Event, RunContext, Sink, TraceIds};
use secflow::metrics::{Registry, SecflowMetrics, SnapshotHead, system};
use secflow::plan::{BuildOptions, Plan, build};
use secflow::recipe::{Limits, Source, parse};
use secflow::sinks::metrics::{MetricsOptions, MetricsSink};
use secflow::store::{AttemptRecord, Counts, NodeStatus, RunRecord, RunStatus, WorkflowRef};

fn chain_plan(n: usize) -> Plan {
    let mut text = String::from("version: \"1.0\"\nname: chain-1000\nnodes:\n");
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

fn context(plan: &Arc<Plan>, run_dir: &Path) -> RunContext {
    RunContext {
        records: Default::default(),
        record: Default::default(),
        run_id: "01JDBENCH00000000000000000".into(),
        run_dir: run_dir.to_path_buf(),
        plan: plan.clone(),
        trace: TraceIds {
            trace_id: "0".repeat(32),
            root_span_id: "0".repeat(16),
            parent_span_id: None,
        },
        executor: "local".into(),
        concurrency: 1,
        started_at: SystemTime::now(),
        secret_values: Vec::new(),
        resumed_from: None,
    }
}

fn events(plan: &Plan) -> Vec<Event> {
    let at = SystemTime::now();
    let mut out = vec![Event::RunStarted { at }];
    for node in 0..plan.nodes.len() {
        out.push(Event::NodeQueued {
            node,
            attempt: 1,
            at,
        });
        out.push(Event::AttemptStarted {
            node,
            attempt: 1,
            node_span_id: "1".repeat(16),
            span_id: "2".repeat(16),
            pid: Some(1),
            executor_job_id: None,
            at,
        });
        out.push(Event::AttemptFinished {
            node,
            record: AttemptRecord {
                attempt: 1,
                status: NodeStatus::Succeeded,
                exit_code: Some(0),
                signal: None,
                queued_at: String::new(),
                started_at: None,
                ended_at: None,
                queue_wait_ms: Some(1),
                duration_ms: Some(3),
                cpu_user_ms: Some(1),
                cpu_system_ms: Some(1),
                peak_rss_bytes: Some(1 << 20),
                retry_delay_ms: None,
                executor_job_id: None,
                error: None,
                read_bytes: None,
                write_bytes: None,
                killed_descendants: None,
            },
            at,
        });
        out.push(Event::NodeFinished {
            node,
            status: NodeStatus::Succeeded,
            reason: None,
            findings_count: 1,
            at,
        });
    }
    out.push(Event::RunFinished {
        status: RunStatus::Succeeded,
        exit_code: 0,
        at,
    });
    out
}

fn record(plan: &Plan) -> RunRecord {
    RunRecord {
        schema_version: 1,
        run_id: "01JDBENCH00000000000000000".into(),
        workflow: WorkflowRef {
            name: plan.name.clone(),
            recipe_path: String::new(),
            recipe_sha256: String::new(),
        },
        status: RunStatus::Succeeded,
        exit_code: Some(0),
        started_at: String::new(),
        ended_at: None,
        duration_ms: Some(5_000),
        executor: "local".into(),
        concurrency: 1,
        vars: Default::default(),
        resumed_from: None,
        trace_id: String::new(),
        pid: 0,
        host: String::new(),
        nodes: Vec::new(),
        counts: Counts::default(),
        findings_count: 1000,
        audit: None,
        telemetry: None,
        reason: None,
        self_usage: None,
    }
}

struct Noop;
impl Sink for Noop {
    fn event(&mut self, _: &RunContext, _: &Event) {}
}

/// A writer that only counts bytes.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn hot() {
    let plan = Arc::new(chain_plan(1000));
    let evs = events(&plan);
    let runs = 30;
    let (mut off, mut on, mut fin) = (Vec::new(), Vec::new(), Vec::new());
    let mut json_bytes = 0;
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(&plan, dir.path());
        let mut noop = Noop;
        let t = Instant::now();
        for e in &evs {
            noop.event(&ctx, e);
        }
        off.push(t.elapsed());
        let mut sink = MetricsSink::new(MetricsOptions::default());
        let t = Instant::now();
        for e in &evs {
            sink.event(&ctx, e);
        }
        on.push(t.elapsed());
        let mut rec = record(&plan);
        let t = Instant::now();
        sink.finish(&ctx, &mut rec).unwrap();
        fin.push(t.elapsed());
        json_bytes = std::fs::metadata(dir.path().join("metrics.json"))
            .unwrap()
            .len();
    }
    let (off, on, fin) = (median(off), median(on), median(fin));
    println!(
        "CHAIN-1000 event stream ({} events), median of {runs}:",
        evs.len()
    );
    println!("  metrics off (no-op sink): {off:?}");
    println!(
        "  metrics on:               {on:?}  ({:.0} ns/event, includes per-node handle setup and sampler thread start)",
        on.as_nanos() as f64 / evs.len() as f64
    );
    println!("  finish (final snapshot + metrics.json {json_bytes} bytes): {fin:?}");

    // One periodic snapshot at 1000 nodes.
    let r = Registry::new();
    let m = SecflowMetrics::register(&r);
    let rows: Vec<Vec<String>> = (0..1000)
        .map(|i| vec![format!("n{i}"), "exec".to_owned()])
        .collect();
    m.bind_nodes(Arc::new(rows));
    for i in 0..1000 {
        m.node_duration.observe(i, 0.003);
        m.findings_generated.inc(i);
        m.nodes_executed.inc_with(i, "succeeded");
    }
    let reps = 50;
    let t = Instant::now();
    let mut bytes = 0;
    let head = SnapshotHead {
        schema_version: 1,
        run_id: "01JDBENCH00000000000000000".into(),
        workflow: "chain-1000".into(),
        timestamp: "2026-11-23T12:00:00.000Z".into(),
        elapsed_ms: 0,
        is_final: false,
        partial: false,
        summary: None,
    };
    for _ in 0..reps {
        let mut out = Counted(0);
        head.write_line(&mut out, &r, false).unwrap();
        bytes = out.0;
    }
    println!(
        "  full snapshot of a 1000-node registry streamed: {:?} each, {bytes} bytes of JSON",
        t.elapsed() / reps
    );
}

fn sampler(secs: u64) {
    let plan = Arc::new(chain_plan(1000));
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(&plan, dir.path());
    let mut sink = MetricsSink::new(MetricsOptions::default());
    let registry = sink.registry();
    // The run has started and its 1000 nodes are registered; the engine is idle.
    let cpu0 = system::self_cpu_seconds().unwrap_or(0.0);
    let t = Instant::now();
    sink.event(
        &ctx,
        &Event::RunStarted {
            at: SystemTime::now(),
        },
    );
    std::thread::sleep(Duration::from_secs(secs));
    let wall = t.elapsed().as_secs_f64();
    let process = system::self_cpu_seconds().unwrap_or(0.0) - cpu0;
    let thread = registry
        .snapshot()
        .into_iter()
        .find(|s| s.name == "secflow_metrics_sampler_cpu_seconds_total")
        .and_then(|s| s.value)
        .unwrap_or(0.0);
    let mut rec = record(&plan);
    sink.finish(&ctx, &mut rec).unwrap();
    let lines = std::fs::read_to_string(dir.path().join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(str::len)
        .collect::<Vec<_>>();
    println!("sampler over {wall:.1} s at 1 s interval, 1000-node plan:");
    println!(
        "  sampler thread CPU: {:.1} ms = {:.3} % of one core",
        thread * 1000.0,
        thread / wall * 100.0
    );
    println!(
        "  whole process CPU while idle: {:.1} ms = {:.3} % of one core",
        process * 1000.0,
        process / wall * 100.0
    );
    println!(
        "  metrics.jsonl: {} lines, first {} bytes, later periodic lines ~{} bytes",
        lines.len(),
        lines.first().copied().unwrap_or(0),
        lines
            .get(lines.len().saturating_sub(2))
            .copied()
            .unwrap_or(0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut i = 0;
    let mut ran = false;
    while i < args.len() {
        match args[i].as_str() {
            "hot" => {
                hot();
                ran = true;
            }
            "sampler" => {
                let secs = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(60);
                i += 1;
                sampler(secs);
                ran = true;
            }
            _ => {}
        }
        i += 1;
    }
    if !ran {
        hot();
        sampler(10);
    }
}
