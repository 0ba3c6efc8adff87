//! `performance-analysis` on fresh real runs of `workflows/diamond.yaml` recorded by
//! `secflow run-workflow` (real processes, real files): exact edges from run.json, the
//! node-completed aggregate, real CPU/RSS figures, and a comparison across runs.

use std::path::Path;

use crate::support::TestRun;
use serde_json::Value;

#[test]
fn analysis_of_fresh_runs_of_the_diamond() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/diamond.yaml");
    std::fs::copy(&recipe, dir.path().join("diamond.yaml")).unwrap();
    for _ in 0..3 {
        let run = TestRun::cmd(["run-workflow", "diamond.yaml"])
            .in_dir(dir.path())
            .output();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let out = TestRun::cmd(["performance-analysis", "--format", "json"])
        .in_dir(dir.path())
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["node_count"], 4);
    assert_eq!(v["run"]["finished"], true);
    assert_eq!(v["critical_path"]["method"], "recorded");
    let path = v["critical_path"]["nodes"].as_array().unwrap();
    assert_eq!(path.first().unwrap(), "generate");
    assert_eq!(path.last().unwrap(), "join");
    assert_eq!(path.len(), 3);
    assert_eq!(v["logs"]["records"], 4);
    for n in v["nodes"].as_array().unwrap() {
        assert_eq!(n["status"], "succeeded");
        assert!(n["peak_rss_bytes"].as_u64().unwrap() > 0, "{n}");
    }
    let across = TestRun::cmd(["analyze", "--workflow", "diamond", "--format", "json"])
        .in_dir(dir.path())
        .output();
    let a: Value = serde_json::from_slice(&across.stdout).unwrap();
    assert_eq!(a["across_runs"]["runs"].as_array().unwrap().len(), 3);
    assert_eq!(a["across_runs"]["nodes"][0]["runs"], 3);
}

/// `recipe_path` is recorded absolute, so `analyze` run from another directory still finds
/// the recipe and uses its exact edges (issue 24 point 10: it was relative to the run's cwd).
#[test]
fn analyze_from_another_directory_finds_the_recipe() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/diamond.yaml");
    std::fs::copy(&recipe, dir.path().join("diamond.yaml")).unwrap();
    let run = TestRun::cmd(["run-workflow", "diamond.yaml"])
        .in_dir(dir.path())
        .output();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let state = dir.path().join(".secflow");
    let out = TestRun::cmd([
        "analyze",
        "--format",
        "json",
        "--state-dir",
        state.to_str().unwrap(),
    ])
    .in_dir(elsewhere.path())
    .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["critical_path"]["method"], "recorded",
        "{}",
        v["warnings"]
    );
}

/// The edges are run.json's `depends_on`: a recipe changed, then moved away after the run
/// changes nothing in the analysis (it never reads the recipe), and no warning is given.
#[test]
fn analysis_needs_no_recipe_once_the_run_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/diamond.yaml");
    let local = dir.path().join("diamond.yaml");
    std::fs::copy(&recipe, &local).unwrap();
    let run = TestRun::cmd(["run-workflow", "diamond.yaml"])
        .in_dir(dir.path())
        .output();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let before: Value = serde_json::from_slice(
        &TestRun::cmd(["performance-analysis", "--format", "json"])
            .in_dir(dir.path())
            .output()
            .stdout,
    )
    .unwrap();
    // Rewrite the recipe (edges reversed would not even validate: make it a different DAG),
    // then move it away.
    std::fs::write(
        &local,
        "version: \"1.0\"\nname: diamond\nnodes:\n  - { id: other, run: \"true\" }\n",
    )
    .unwrap();
    std::fs::rename(&local, dir.path().join("moved.yaml")).unwrap();
    let out = TestRun::cmd(["performance-analysis", "--format", "json"])
        .in_dir(dir.path())
        .output();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["critical_path"]["method"], "recorded");
    assert_eq!(v["critical_path"], before["critical_path"]);
    assert_eq!(v["warnings"], serde_json::json!([]), "{}", v["warnings"]);
    // The record holds the edges themselves: join waited for both branches.
    let run_dir = std::fs::read_dir(dir.path().join(".secflow/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let record: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let join = record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "join")
        .unwrap();
    assert_eq!(join["depends_on"].as_array().unwrap().len(), 2, "{join}");
}
