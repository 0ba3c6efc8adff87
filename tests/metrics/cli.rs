//! `secflow metrics RUN` on a recorded run, and `secflow schema --record metrics`.

use std::process::{Command, Output};

use secflow::metrics::MetricsSnapshot;
use secflow::sinks::metrics::MetricsOptions;

use crate::common::synthetic_run;
use crate::support::TestRun;
use crate::tools::promtool_check;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn metrics_prometheus_of_a_recorded_run_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, snapshot) = synthetic_run(dir.path(), MetricsOptions::default());
    for run in ["last", "01JDTEST", &snapshot.run_id] {
        let out = TestRun::cmd(["metrics", run, "--format", "prometheus"])
            .env("SECFLOW_HOME", dir.path())
            .output();
        assert_eq!(out.status.code(), Some(0), "{run}: {out:?}");
        let text = stdout(&out);
        assert!(text.contains("secflow_workflows_started_total 1\n"));
        let (code, msg) = promtool_check(&text);
        assert_eq!((code, msg.as_str()), (0, ""), "promtool on:\n{text}");
    }
    // A run directory path works from anywhere, without the state dir.
    let path = run_dir.to_str().unwrap();
    let out = TestRun::cmd(["metrics", path, "--format", "json"])
        .env("SECFLOW_HOME", std::path::Path::new("/nonexistent"))
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let parsed: MetricsSnapshot = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(parsed, snapshot);
}

#[test]
fn metrics_table_shows_summary_and_series() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_run(dir.path(), MetricsOptions::default());
    let out = TestRun::cmd(["metrics", "last"])
        .env("SECFLOW_HOME", dir.path())
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("total 3000 ms · 3 nodes · 12 findings · avg node 1163 ms · 4.00 findings/s"),
        "{text}"
    );
    assert!(text.contains("secflow_node_duration_seconds"), "{text}");
    assert!(
        text.contains("node_id=scan plugin_name=nuclei-stub"),
        "{text}"
    );
    assert!(text.contains("count=2 sum=2.650"), "{text}");
}

#[test]
fn unknown_run_exits_2_and_a_crashed_run_reads_its_last_periodic_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = TestRun::cmd(["metrics", "nope"])
        .env("SECFLOW_HOME", dir.path())
        .output();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`nope`"), "{stderr}");

    // A run killed before finish: only metrics.jsonl, with a torn last line.
    let (run_dir, snapshot) = synthetic_run(dir.path(), MetricsOptions::default());
    std::fs::remove_file(run_dir.join("metrics.json")).unwrap();
    let mut jsonl = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    jsonl.push_str("{\"schema_version\":1,\"run_id\":\"01J");
    std::fs::write(run_dir.join("metrics.jsonl"), jsonl).unwrap();
    let out = TestRun::cmd(["metrics", "last", "--format", "json"])
        .env("SECFLOW_HOME", dir.path())
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let parsed: MetricsSnapshot = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(parsed, snapshot);
}

#[test]
fn schema_of_the_metrics_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = TestRun::cmd(["schema", "--record", "metrics"])
        .env("SECFLOW_HOME", dir.path())
        .output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let schema: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        schema["title"],
        "secflow metrics snapshot (metrics.json, metrics.jsonl)"
    );
    let props = &schema["properties"];
    for field in ["schema_version", "run_id", "series", "summary", "final"] {
        assert!(props.get(field).is_some(), "schema lacks {field}");
    }
}

/// Unreadable metrics (missing, a FIFO, corrupt) exit 2 like every reader's unreadable file,
/// naming the file; a FIFO is refused, never waited on (issue 24 points 7, 10).
#[test]
fn unreadable_metrics_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("runs/01RUN");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("run.json"), "{}").unwrap();
    let out = TestRun::cmd(["metrics", run.to_str().unwrap()])
        .env("SECFLOW_HOME", dir.path())
        .output();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.jsonl"));
    let status = Command::new("mkfifo")
        .arg(run.join("metrics.json"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = TestRun::cmd(["metrics", run.to_str().unwrap()])
        .env("SECFLOW_HOME", dir.path())
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("metrics.json") && stderr.contains("FIFO"),
        "{stderr}"
    );
}
