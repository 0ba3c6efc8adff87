//! Push to a real Pushgateway started by the test, read back from its API; textfile output.

use std::time::Duration;

use secflow::exporters::pushgateway::{PushGrouping, push, push_path};
use secflow::exporters::textfile::write_textfile;
use secflow::sinks::metrics::MetricsOptions;

use crate::common::synthetic_run;
use crate::tools::{Pushgateway, get, promtool_check};

#[test]
fn push_to_a_real_pushgateway_and_read_the_series_back() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Pushgateway::start(dir.path());
    let (_, s) = synthetic_run(dir.path(), MetricsOptions::default());
    // The synthetic workflow's name has spaces and a slash: it goes as @base64.
    assert_eq!(s.workflow, "Linear Scan / nightly");
    assert!(push_path(&s.workflow, Some(&s.run_id)).contains("/workflow@base64/"));
    push(
        &gw.url,
        &s,
        &s.workflow,
        &s.run_id,
        PushGrouping::Run,
        Duration::from_secs(5),
    )
    .expect("push succeeds");

    let (status, body) = get(&format!("{}/api/v1/metrics", gw.url)).expect("api answers");
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let groups = api["data"].as_array().unwrap();
    let group = groups
        .iter()
        .find(|g| g["labels"]["job"] == "secflow")
        .unwrap_or_else(|| panic!("no secflow group in {body}"));
    assert_eq!(group["labels"]["workflow"], "Linear Scan / nightly");
    assert_eq!(group["labels"]["run_id"], s.run_id.as_str());
    assert_eq!(group["last_push_successful"], true);
    let findings = &group["secflow_findings_generated_total"];
    assert_eq!(findings["type"], "COUNTER");
    let scan = findings["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["labels"]["node_id"] == "scan")
        .unwrap();
    assert_eq!(scan["value"], "12");
    let hist = &group["secflow_node_queue_wait_seconds"]["metrics"][0];
    assert_eq!(hist["count"], "4");
    assert_eq!(hist["buckets"]["+Inf"], "4");

    // /metrics carries the grouping labels on every sample.
    let (_, text) = get(&format!("{}/metrics", gw.url)).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("secflow_workflows_started_total{"))
        .unwrap_or_else(|| panic!("no started series in\n{text}"));
    assert!(
        line.contains("workflow=\"Linear Scan / nightly\""),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");

    // Grouping by workflow only: a second group without run_id.
    push(
        &gw.url,
        &s,
        "plain",
        &s.run_id,
        PushGrouping::Workflow,
        Duration::from_secs(5),
    )
    .expect("second push succeeds");
    let (_, body) = get(&format!("{}/api/v1/metrics", gw.url)).unwrap();
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let plain = api["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["labels"]["workflow"] == "plain")
        .expect("plain group");
    assert!(plain["labels"].get("run_id").is_none());
}

/// SPEC §10: a run pushes its audit chain's head as `secflow_audit_head_seq`.
#[test]
fn a_run_pushes_its_audit_chain_head() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Pushgateway::start(dir.path());
    std::fs::write(
        dir.path().join("r.yaml"),
        "version: \"1.0\"\nname: headed\nnodes:\n  - id: a\n    run: \"true\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secflow"))
        .current_dir(dir.path())
        .args([
            "run-workflow",
            "r.yaml",
            "--format",
            "json",
            "--push-metrics",
            &gw.url,
        ])
        .env_remove("SECFLOW_HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, text) = get(&format!("{}/metrics", gw.url)).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("secflow_audit_head_seq{"))
        .unwrap_or_else(|| panic!("no head series in\n{text}"));
    let audit = &record["audit"];
    assert!(
        line.contains(&format!(
            "last_hash=\"{}\"",
            audit["last_hash"].as_str().unwrap()
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!("key_id=\"{}\"", audit["key_id"].as_str().unwrap())),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "run_id=\"{}\"",
            record["run_id"].as_str().unwrap()
        )),
        "{line}"
    );
    assert!(line.ends_with(&format!(" {}", audit["events"])), "{line}");
}

#[test]
fn a_rejected_push_is_an_error_naming_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Pushgateway::start(dir.path());
    let (_, mut s) = synthetic_run(dir.path(), MetricsOptions::default());
    // Two series with the same name and labels: the gateway refuses the body.
    let dup = s.series[0].clone();
    s.series.push(dup);
    let err = push(
        &gw.url,
        &s,
        "w",
        "r",
        PushGrouping::Workflow,
        Duration::from_secs(5),
    )
    .expect_err("duplicate series rejected");
    let msg = err.to_string();
    assert!(msg.contains("answered 400"), "{msg}");
}

#[test]
fn textfile_is_written_atomically_and_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = synthetic_run(dir.path(), MetricsOptions::default());
    let path = dir.path().join("secflow.prom");
    std::fs::write(&path, "old content\n").unwrap();
    write_textfile(&path, &s).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let (code, msg) = promtool_check(&text);
    assert_eq!((code, msg.as_str()), (0, ""));
    // No temporary file left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains(".tmp")), "{names:?}");
}
