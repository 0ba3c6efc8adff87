//! `performance-analysis` on fresh real runs of `workflows/diamond.yaml` recorded by
//! `secflow run-workflow` (real processes, real files): exact edges from the recipe, the
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
    assert_eq!(v["critical_path"]["method"], "recipe");
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
    assert_eq!(v["critical_path"]["method"], "recipe", "{}", v["warnings"]);
}
