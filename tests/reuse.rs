//! Resume and the node cache, with real runs: which nodes execute again is read from a log
//! file each node appends to, and from run.json.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

struct Run {
    code: i32,
    stderr: String,
    record: Value,
}

fn run(dir: &Path, recipe: &str, args: &[&str]) -> Run {
    std::fs::write(dir.join("recipe.yaml"), recipe).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_secflow"))
        .current_dir(dir)
        .env_remove("SECFLOW_HOME")
        .args([
            "run-workflow",
            "--progress",
            "never",
            "--format",
            "json",
            "recipe.yaml",
        ])
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        record: serde_json::from_slice(&out.stdout).expect("run.json on stdout"),
    }
}

/// Node ids in the order they executed since the last call (and clears the log).
fn executed(dir: &Path) -> Vec<String> {
    let log = dir.join("executed.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut ids: Vec<String> = text.lines().map(str::to_string).collect();
    ids.sort();
    ids
}

fn status(r: &Run, node: &str) -> String {
    r.record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == node)
        .map(|n| n["status"].as_str().unwrap().to_string())
        .unwrap()
}

/// Two independent branches: a → a2, b → b2.
fn branches(cache: bool, a_value: &str) -> String {
    format!(
        r#"
version: "1.0"
name: branches
vars: {{ a_value: "{a_value}" }}
state: {{ cache_intermediate: {cache} }}
nodes:
  - id: a
    run: "echo a >> executed.log; printf '{{\"v\": \"%s\"}}\\n' {{{{ vars.a_value }}}} > {{{{ outputs.a_out }}}}"
    outputs: [a_out]
  - id: a2
    run: "echo a2 >> executed.log; cat {{{{ inputs.a_out }}}} > {{{{ outputs.a2_out }}}}"
    inputs: [a_out]
    outputs: [a2_out]
  - id: b
    run: "echo b >> executed.log; echo '{{\"v\": 1}}' > {{{{ outputs.b_out }}}}"
    outputs: [b_out]
  - id: b2
    run: "echo b2 >> executed.log; cat {{{{ inputs.b_out }}}} > {{{{ outputs.b2_out }}}}"
    inputs: [b_out]
    outputs: [b2_out]
"#
    )
}

#[test]
fn an_identical_second_run_executes_nothing_and_its_run_directory_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &branches(true, "x"), &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(executed(dir.path()), ["a", "a2", "b", "b2"]);
    let second = run(dir.path(), &branches(true, "x"), &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(executed(dir.path()).is_empty(), "nothing runs again");
    for node in ["a", "a2", "b", "b2"] {
        assert_eq!(status(&second, node), "cached");
    }
    assert_eq!(second.record["counts"]["cached"], 4);
    let run_dir = dir
        .path()
        .join(".secflow/runs")
        .join(second.record["run_id"].as_str().unwrap());
    let copied = std::fs::read_to_string(run_dir.join("datasets/a2_out.jsonl")).unwrap();
    assert_eq!(copied.trim(), r#"{"v": "x"}"#);
    // --no-cache runs everything.
    let third = run(dir.path(), &branches(true, "x"), &["--no-cache"]);
    assert_eq!(third.code, 0);
    assert_eq!(executed(dir.path()), ["a", "a2", "b", "b2"]);
}

#[test]
fn changing_one_byte_upstream_reruns_exactly_the_nodes_downstream_of_it() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(dir.path(), &branches(true, "x"), &[]).code, 0);
    executed(dir.path());
    let changed = run(dir.path(), &branches(true, "y"), &[]);
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(executed(dir.path()), ["a", "a2"]);
    assert_eq!(status(&changed, "b"), "cached");
    assert_eq!(status(&changed, "b2"), "cached");
    assert_eq!(status(&changed, "a2"), "succeeded");
}

const FLAKY: &str = r#"
version: "1.0"
name: resumable
nodes:
  - id: fetch
    run: "echo fetch >> executed.log; echo '{\"n\": 1}' > {{ outputs.data }}"
    outputs: [data]
  - id: parse
    run: "echo parse >> executed.log; test -f fixed || exit 4; cat {{ inputs.data }} > {{ outputs.parsed }}"
    inputs: [data]
    outputs: [parsed]
  - id: report
    run: "echo report >> executed.log; cat {{ inputs.parsed }} > {{ outputs.report }}"
    inputs: [parsed]
    outputs: [report]
"#;

#[test]
fn resume_reruns_only_what_did_not_succeed_and_records_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let failed = run(dir.path(), FLAKY, &[]);
    assert_eq!(failed.code, 1);
    assert_eq!(executed(dir.path()), ["fetch", "parse"]);
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let id = failed.record["run_id"].as_str().unwrap();
    let resumed = run(dir.path(), FLAKY, &["--resume", id]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(executed(dir.path()), ["parse", "report"]);
    assert_eq!(resumed.record["resumed_from"], id);
    assert_eq!(status(&resumed, "fetch"), "cached");
    let reason = resumed.record["nodes"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(id), "{reason}");

    // A node whose definition changed since the resumed run runs again, with a warning.
    let changed = FLAKY.replace("{\\\"n\\\": 1}", "{\\\"n\\\": 2}");
    assert_ne!(changed, FLAKY);
    let again = run(dir.path(), &changed, &["--resume", id]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(executed(dir.path()), ["fetch", "parse", "report"]);
    assert!(
        again.stderr.contains("`fetch` changed since run"),
        "{}",
        again.stderr
    );
}

#[test]
fn resume_on_failure_resumes_the_last_failed_run_unless_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = FLAKY.replace(
        "name: resumable",
        "name: resumable\nstate: { resume_on_failure: true }",
    );
    let failed = run(dir.path(), &recipe, &[]);
    assert_eq!(failed.code, 1);
    executed(dir.path());
    // Still broken, and --fresh: everything runs again.
    let fresh = run(dir.path(), &recipe, &["--fresh"]);
    assert_eq!(fresh.code, 1);
    assert_eq!(executed(dir.path()), ["fetch", "parse"]);
    assert!(fresh.record["resumed_from"].is_null());
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let resumed = run(dir.path(), &recipe, &[]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("resuming run"),
        "{}",
        resumed.stderr
    );
    assert_eq!(resumed.record["resumed_from"], fresh.record["run_id"]);
    assert_eq!(executed(dir.path()), ["parse", "report"]);
}
