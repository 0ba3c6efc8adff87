//! Metrics of REAL runs (`run-workflow` with the engine): the exposition of a real run passes
//! the real `promtool`; `--push-metrics` reaches a real Pushgateway (or warns once, within the
//! timeout, when none answers); `--metrics-textfile` writes a clean textfile.
//!
//! Needs the engine and the metrics flags of `run-workflow` (`RunMetricsArgs` flattened into
//! `RunArgs`, `deliver` called after the run).

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::support::TestRun;
use crate::tools::{Pushgateway, free_port, get, promtool_check};

fn run_sample(state: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run-workflow", "workflows/sample-linear.yaml", "--quiet"];
    args.extend_from_slice(extra);
    let out = TestRun::cmd(&args).env("SECFLOW_HOME", state).output();
    assert_eq!(out.status.code(), Some(0), "run failed: {out:?}");
    out
}

#[test]
fn a_real_runs_exposition_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    run_sample(dir.path(), &[]);
    let out = TestRun::cmd(["metrics", "last", "--format", "prometheus"])
        .env("SECFLOW_HOME", dir.path())
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (code, msg) = promtool_check(&text);
    assert_eq!((code, msg.as_str()), (0, ""), "promtool on:\n{text}");
    for node in ["discovery", "scan", "enrichment"] {
        let needle = format!("secflow_nodes_executed_total{{node_id=\"{node}\",");
        assert!(text.contains(&needle), "no {needle} in\n{text}");
    }
    assert!(text.contains("secflow_workflows_completed_total{status=\"succeeded\"} 1\n"));

    let out = TestRun::cmd(["metrics", "last", "--format", "json"])
        .env("SECFLOW_HOME", dir.path())
        .output();
    let snap: secflow::metrics::MetricsSnapshot = serde_json::from_slice(&out.stdout).unwrap();
    let summary = snap.summary.expect("summary");
    assert_eq!(summary.node_count, 3);
    assert!(summary.total_duration_ms > 0);
    // secflow's own CPU and peak RSS are in run.json.
    let runs = dir.path().join("runs");
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert!(record["self_usage"]["peak_rss_bytes"].as_u64().unwrap() > 1_000_000);
}

#[test]
fn push_metrics_of_a_real_run_to_a_real_pushgateway() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Pushgateway::start(dir.path());
    let out = run_sample(
        dir.path(),
        &["--push-metrics", &gw.url, "--push-grouping", "run"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
    let (_, body) = get(&format!("{}/api/v1/metrics", gw.url)).unwrap();
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let group = api["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["labels"]["workflow"] == "Linear Security Scan")
        .unwrap_or_else(|| panic!("no group in {body}"));
    assert_eq!(group["labels"]["job"], "secflow");
    assert!(
        group["labels"]["run_id"]
            .as_str()
            .is_some_and(|s| s.len() == 26)
    );
    let started = &group["secflow_workflows_started_total"]["metrics"][0]["value"];
    assert_eq!(started, "1");
}

#[test]
fn an_unreachable_gateway_warns_once_and_does_not_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", free_port());
    let t = Instant::now();
    let out = run_sample(
        dir.path(),
        &["--push-metrics", &url, "--push-timeout", "2s"],
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("warning: metrics push to").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn metrics_textfile_of_a_real_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secflow.prom");
    run_sample(dir.path(), &["--metrics-textfile", path.to_str().unwrap()]);
    let text = std::fs::read_to_string(&path).unwrap();
    let (code, msg) = promtool_check(&text);
    assert_eq!((code, msg.as_str()), (0, ""));
    assert!(text.contains("secflow_workflows_started_total 1\n"));
}
