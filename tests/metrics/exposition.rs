//! The sink's snapshots driven by synthetic engine events, their files, and the Prometheus
//! exposition checked by the real `promtool check metrics`.

use std::time::{Duration, Instant};

use secflow::engine::{Event, Sink};
use secflow::metrics::{MetricKind, MetricsSnapshot, Series, render};
use secflow::sinks::metrics::{MetricsOptions, MetricsSink};

use crate::common::{context, drive, synthetic_run};
use crate::tools::promtool_check;

/// Every series name SPEC §4 lists.
const SPEC_SERIES: &[&str] = &[
    "secflow_workflows_started_total",
    "secflow_workflows_completed_total",
    "secflow_workflow_duration_seconds",
    "secflow_active_workflows",
    "secflow_nodes_executed_total",
    "secflow_node_duration_seconds",
    "secflow_node_queue_wait_seconds",
    "secflow_node_retries_total",
    "secflow_findings_generated_total",
    "secflow_plugins_loaded_total",
    "secflow_plugin_executions_total",
    "secflow_plugin_duration_seconds",
    "secflow_plugin_memory_bytes",
    "secflow_plugin_cpu_seconds_total",
    "secflow_tool_failures_total",
    "secflow_audit_events_total",
    "secflow_system_cpu_percent",
    "secflow_system_memory_bytes",
    "secflow_system_memory_percent",
    "secflow_system_disk_percent",
    "secflow_workflow_findings_per_second",
    "secflow_workflow_avg_node_duration_seconds",
];

fn value(s: &MetricsSnapshot, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.find(name, labels)
        .and_then(|x| x.value)
        .unwrap_or_else(|| panic!("no value for {name} {labels:?}"))
}

#[test]
fn synthetic_run_produces_every_spec_series_with_the_right_values() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, s) = synthetic_run(dir.path(), MetricsOptions::default());
    for name in SPEC_SERIES {
        assert!(s.series.iter().any(|x| x.name == *name), "missing {name}");
    }
    for x in &s.series {
        assert!(!x.help.is_empty(), "{} has no help", x.name);
        if x.kind == MetricKind::Counter {
            assert!(x.name.ends_with("_total"), "{}", x.name);
        }
    }
    assert_eq!(value(&s, "secflow_workflows_started_total", &[]), 1.0);
    assert_eq!(
        value(
            &s,
            "secflow_workflows_completed_total",
            &[("status", "succeeded")]
        ),
        1.0
    );
    assert_eq!(value(&s, "secflow_active_workflows", &[]), 0.0);
    let scan = [("node_id", "scan"), ("plugin_name", "nuclei-stub")];
    assert_eq!(value(&s, "secflow_node_retries_total", &scan), 1.0);
    assert_eq!(value(&s, "secflow_findings_generated_total", &scan), 12.0);
    assert_eq!(
        value(
            &s,
            "secflow_nodes_executed_total",
            &[
                ("node_id", "report"),
                ("plugin_name", "exec"),
                ("status", "succeeded")
            ]
        ),
        1.0
    );
    let nuclei = [("plugin_name", "nuclei-stub")];
    assert_eq!(value(&s, "secflow_tool_failures_total", &nuclei), 1.0);
    assert_eq!(value(&s, "secflow_plugin_cpu_seconds_total", &nuclei), 1.0);
    assert_eq!(
        value(&s, "secflow_plugin_memory_bytes", &nuclei),
        48_234_496.0
    );
    assert_eq!(
        value(
            &s,
            "secflow_plugin_executions_total",
            &[("plugin_name", "nuclei-stub"), ("status", "failed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "secflow_plugins_loaded_total",
            &[("plugin_name", "ferox-stub")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "secflow_audit_events_total",
            &[("event_type", "node.started")]
        ),
        4.0
    );
    assert_eq!(
        value(
            &s,
            "secflow_audit_events_total",
            &[("event_type", "node.retried")]
        ),
        1.0
    );
    assert_eq!(value(&s, "secflow_workflow_findings_per_second", &[]), 4.0);
    let avg = value(&s, "secflow_workflow_avg_node_duration_seconds", &[]);
    assert!((avg - 1.163).abs() < 1e-9, "avg {avg}");

    let hist =
        |name: &str, labels: &[(&str, &str)]| -> Series { s.find(name, labels).unwrap().clone() };
    let queue = hist("secflow_node_queue_wait_seconds", &[]);
    assert_eq!(queue.count, Some(4));
    assert!((queue.sum.unwrap() - 0.04).abs() < 1e-9);
    let scan_d = hist("secflow_node_duration_seconds", &scan);
    assert_eq!(scan_d.count, Some(2));
    assert!((scan_d.sum.unwrap() - 2.65).abs() < 1e-9);
    let p99 = scan_d.p99.unwrap();
    assert!((0.15..=2.5).contains(&p99), "p99 {p99}");
    let wf = hist("secflow_workflow_duration_seconds", &[]);
    assert_eq!(wf.count, Some(1));
    assert!(wf.sum.unwrap() >= 3.0);

    let summary = s.summary.clone().expect("summary in the final snapshot");
    assert_eq!(summary.total_duration_ms, 3_000);
    assert_eq!(summary.node_count, 3);
    assert_eq!(summary.findings_count, 12);
    assert_eq!(summary.avg_node_duration_ms, 1_163);
    assert_eq!(summary.findings_per_second, 4.0);
    assert!(s.is_final);

    // metrics.json holds the same snapshot; metrics.jsonl ends with it.
    let json: MetricsSnapshot =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json, s);
    let jsonl = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let last: MetricsSnapshot = serde_json::from_str(jsonl.lines().last().unwrap()).unwrap();
    assert_eq!(last, s);
}

#[test]
fn exposition_of_a_synthetic_run_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = synthetic_run(dir.path(), MetricsOptions::default());
    let text = render(&s);
    let (code, out) = promtool_check(&text);
    assert_eq!((code, out.as_str()), (0, ""), "promtool on:\n{text}");
    assert!(text.ends_with('\n'));
    for name in SPEC_SERIES {
        assert_eq!(
            text.matches(&format!("# HELP {name} ")).count(),
            1,
            "one HELP for {name}"
        );
        assert!(text.contains(&format!("# TYPE {name} ")), "TYPE for {name}");
    }
    assert!(text.contains("secflow_node_queue_wait_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert!(text.contains("secflow_node_queue_wait_seconds_bucket{le=\"0.01\"} 4\n"));
    assert!(text.contains("secflow_node_queue_wait_seconds_count 4\n"));
    assert!(text.contains(
        "secflow_findings_generated_total{node_id=\"scan\",plugin_name=\"nuclei-stub\"} 12\n"
    ));
}

#[test]
fn label_values_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut s) = synthetic_run(dir.path(), MetricsOptions::default());
    let mut odd = s.find("secflow_tool_failures_total", &[]).unwrap().clone();
    odd.labels.insert(
        "plugin_name".into(),
        "a \"quoted\" back\\slash\nnew line / ünïcode".into(),
    );
    s.series.push(odd);
    let text = render(&s);
    assert!(text.contains("plugin_name=\"a \\\"quoted\\\" back\\\\slash\\nnew line / ünïcode\"}"));
    let (code, out) = promtool_check(&text);
    assert_eq!((code, out.as_str()), (0, ""), "promtool on:\n{text}");
}

#[test]
fn promtool_really_checks_its_input() {
    // Guards the guard: a counter without `_total` and without HELP is flagged.
    let (code, out) = promtool_check("# TYPE secflow_steps counter\nsecflow_steps 3\n");
    assert_ne!(code, 0, "promtool accepted a bad exposition: {out}");
}

#[test]
fn periodic_snapshots_and_system_samples_while_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let mut sink = MetricsSink::new(MetricsOptions {
        sample_interval: Duration::from_millis(50),
        ..MetricsOptions::default()
    });
    sink.event(
        &ctx,
        &Event::RunStarted {
            at: std::time::SystemTime::now(),
        },
    );
    let jsonl = dir.path().join("metrics.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&jsonl).unwrap_or_default();
        let complete: Vec<String> = text.lines().map(str::to_owned).collect();
        if complete.len() >= 3 {
            break complete;
        }
        assert!(
            Instant::now() < deadline,
            "no periodic snapshots within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let snap: MetricsSnapshot = serde_json::from_str(&lines[2]).unwrap();
    assert!(!snap.is_final);
    assert!(snap.summary.is_none());
    assert_eq!(
        snap.find("secflow_active_workflows", &[]).unwrap().value,
        Some(1.0)
    );
    let v = |name: &str| snap.find(name, &[]).unwrap().value.unwrap();
    assert!(v("secflow_system_memory_bytes") > 0.0);
    let mem = v("secflow_system_memory_percent");
    assert!(mem > 0.0 && mem <= 100.0, "{mem}");
    let disk = v("secflow_system_disk_percent");
    assert!((0.0..=100.0).contains(&disk) && disk > 0.0, "{disk}");
    assert!((0.0..=100.0).contains(&v("secflow_system_cpu_percent")));
    assert!(v("secflow_process_resident_memory_bytes") > 1e6);
    assert!(v("secflow_process_cpu_seconds_total") > 0.0);
    // The rest of the run still finishes normally, with the periodic lines kept.
    let record = drive(&mut sink, &ctx);
    let usage = record
        .self_usage
        .expect("finish records secflow's own usage");
    assert!(usage.peak_rss_bytes > 1_000_000);
    let after = std::fs::read_to_string(&jsonl).unwrap();
    assert!(after.lines().count() > lines.len());
    assert!(
        after
            .lines()
            .all(|l| serde_json::from_str::<MetricsSnapshot>(l).is_ok())
    );
}

fn wait_for_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text.lines().map(str::to_owned).collect();
        }
        assert!(Instant::now() < deadline, "fewer than {n} lines in 10 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_crashed_run_keeps_its_metrics_up_to_the_last_interval() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let mut sink = MetricsSink::new(MetricsOptions {
        sample_interval: Duration::from_millis(30),
        ..MetricsOptions::default()
    });
    let now = std::time::SystemTime::now;
    sink.event(&ctx, &Event::RunStarted { at: now() });
    let jsonl = dir.path().join("metrics.jsonl");
    let before = wait_for_lines(&jsonl, 2).len();
    let scan = ctx.plan.node_index("scan").unwrap();
    sink.event(
        &ctx,
        &Event::NodeFinished {
            node: scan,
            status: secflow::store::NodeStatus::Succeeded,
            reason: None,
            findings_count: 12,
            at: now(),
        },
    );
    let lines = wait_for_lines(&jsonl, before + 2);
    drop(sink); // the process dies: no finish, no metrics.json

    let first: MetricsSnapshot = serde_json::from_str(&lines[0]).unwrap();
    assert!(!first.partial, "the first periodic line is complete");
    let last: MetricsSnapshot = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert!(last.partial);
    assert!(
        last.find(
            "secflow_findings_generated_total",
            &[("node_id", "discovery")]
        )
        .is_none(),
        "unchanged labelled series are left out of partial lines"
    );
    assert!(last.find("secflow_system_memory_bytes", &[]).is_some());

    let folded = secflow::metrics::load_snapshot(dir.path()).unwrap();
    assert!(!folded.is_final);
    let v = |node: &str| {
        folded
            .find("secflow_findings_generated_total", &[("node_id", node)])
            .and_then(|s| s.value)
    };
    assert_eq!(v("scan"), Some(12.0));
    assert_eq!(v("discovery"), Some(0.0));
    assert_eq!(
        folded
            .find(
                "secflow_nodes_executed_total",
                &[("node_id", "scan"), ("status", "succeeded")]
            )
            .and_then(|s| s.value),
        Some(1.0)
    );
    assert_eq!(
        folded.find("secflow_active_workflows", &[]).unwrap().value,
        Some(1.0)
    );
}
