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

/// `performance-analysis --node ID` (SPEC §9) on a real fan-out run: a template id selects
/// every instance and keeps the template's group, an instance id only itself, a plain node
/// only itself; run-wide figures stay the whole run's; an unknown id exits 2 naming the run
/// and its nodes; a hostile one is escaped.
#[test]
fn node_flag_takes_a_template_an_instance_or_a_node() {
    let recipe = r#"
version: "1.0"
name: fan-node
nodes:
  - id: scan
    foreach: [ok1, bad, ok2]
    run: "test {{ item }} != bad && echo {{ item }} > {{ outputs.o }}"
    outputs: [o]
    continue_on_error: true
  - id: merge
    run: "cat {{ inputs.o }} > {{ outputs.all }}"
    inputs: [o]
    outputs: [all]
"#;
    let r = TestRun::new(recipe).run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run_id = r.record["run_id"].as_str().unwrap().to_string();
    let analyze = |node: &str, format: &str| {
        TestRun::cmd([
            "performance-analysis",
            &run_id,
            "--state-dir",
            "state",
            "--format",
            format,
            "--node",
            node,
        ])
        .in_dir(&r.dir)
        .output()
    };
    let json = |node: &str| -> Value {
        let out = analyze(node, "json");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let ids = |v: &Value, key: &str, field: &str| -> Vec<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x[field].as_str().unwrap().to_string())
            .collect()
    };

    let t = json("scan");
    assert_eq!(t["node"], "scan");
    assert_eq!(ids(&t, "nodes", "node_id"), ["scan@0", "scan@1", "scan@2"]);
    assert_eq!(ids(&t, "fanouts", "template"), ["scan"]);
    assert_eq!(t["fanouts"][0]["count"], 3);
    assert_eq!(t["fanouts"][0]["failed"], serde_json::json!(["scan@1"]));
    assert_eq!(ids(&t, "problems", "node_id"), ["scan@1"]);
    assert!(
        t["slowest_nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n.as_str().unwrap().starts_with("scan@")),
        "{}",
        t["slowest_nodes"]
    );
    // The "node completed" aggregate: the instances that completed, nothing else.
    let logged = ids(&t["logs"], "nodes", "node_id");
    assert_eq!(logged, ["scan@0", "scan@2"]);
    // Run-wide figures are the whole run's.
    assert_eq!(t["summary"]["node_count"], 4);

    let i = json("scan@1");
    assert_eq!(ids(&i, "nodes", "node_id"), ["scan@1"]);
    assert_eq!(i["nodes"][0]["status"], "failed");
    assert_eq!(ids(&i, "fanouts", "template"), ["scan"]);

    let m = json("merge");
    assert_eq!(ids(&m, "nodes", "node_id"), ["merge"]);
    assert!(m.get("fanouts").is_none(), "{m}");
    assert!(m["problems"].as_array().unwrap().is_empty());

    // Without --node: every node and no `node` key.
    let all = TestRun::cmd([
        "performance-analysis",
        &run_id,
        "--state-dir",
        "state",
        "--format",
        "json",
    ])
    .in_dir(&r.dir)
    .output();
    let all: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all["nodes"].as_array().unwrap().len(), 4);
    assert!(all.get("node").is_none());

    // Table, markdown and HTML say what they are restricted to and show the group.
    for format in ["table", "markdown", "html"] {
        let out = analyze("scan", format);
        assert!(out.status.success(), "{format}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("restricted to `scan`: 3 of 4 nodes"),
            "{format}: {text}"
        );
        assert!(text.contains("Fan-out"), "{format}: {text}");
        assert!(
            !text.contains("merge</td>") && !text.contains("| merge |"),
            "{format}"
        );
    }

    // Unknown ids: exit 2, the run named, its nodes listed (instances folded).
    for unknown in ["nosuch", "scan@7", "merge@0"] {
        let out = analyze(unknown, "json");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{unknown}: {err}");
        assert!(
            err.contains(&format!("run {run_id} has no node `{unknown}`")),
            "{err}"
        );
        assert!(err.contains("merge, scan@…"), "{err}");
        assert!(out.stdout.is_empty());
    }
    // Not an id at all: exit 2, escaped.
    let out = analyze("x\x1b]0;owned\x07../y", "json");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
    assert!(err.contains("--node takes a node id"), "{err}");
}
