//! `when` conditions and `trigger` rules (SPEC §9) with real processes: an if/else pair
//! joined by `none_failed`, `all_done` after a failure, typed `--var` values, hostile values
//! that stay data, `records(inputs.D)`.

use crate::support::run;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

const IF_ELSE: &str = r#"
version: "1.0"
name: if-else
vars: { mode: quick, depth: "2" }
nodes:
  - id: discover
    run: "printf '{\"h\":\"a\"}\n{\"h\":\"b\"}\n' > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: full
    when: "{{ vars.mode }} == 'full' && records(inputs.hosts) > 1"
    run: "sed 's/$/ full/' {{ inputs.hosts }} > {{ outputs.full_findings }}"
    inputs: [hosts]
    outputs: [full_findings]
  - id: quick
    when: "{{ vars.mode }} != 'full' && {{ vars.depth }} >= 2"
    run: "head -n 1 {{ inputs.hosts }} > {{ outputs.quick_findings }}"
    inputs: [hosts]
    outputs: [quick_findings]
  - id: report
    trigger: none_failed
    run: "cat {{ inputs.full_findings }} {{ inputs.quick_findings }} > {{ outputs.report }}"
    inputs: [full_findings, quick_findings]
    outputs: [report]
  - id: strict
    run: "cat {{ inputs.full_findings }}"
    inputs: [full_findings]
"#;

#[test]
fn if_else_pair_joins_with_none_failed() {
    let dir = tmp();
    let r = run(dir.path(), IF_ELSE, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["status"], "succeeded");
    assert_eq!(r.status("full"), "skipped");
    assert_eq!(
        r.node("full")["reason"],
        "condition false: {{ vars.mode }} == 'full' && records(inputs.hosts) > 1"
    );
    assert_eq!(r.status("quick"), "succeeded");
    assert_eq!(r.status("report"), "succeeded");
    // The skipped branch's dataset is an empty file; the join read it.
    assert_eq!(r.dataset("full_findings"), "");
    assert_eq!(r.dataset("report"), "{\"h\":\"a\"}\n");
    // The default trigger skips after a skipped upstream, naming it.
    assert_eq!(r.status("strict"), "skipped");
    let reason = r.node("strict")["reason"].as_str().unwrap();
    assert!(reason.contains("`full` was skipped"), "{reason}");

    // The other branch with a typed --var.
    let r = run(dir.path(), IF_ELSE, &["--var", "mode=full"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("full"), "succeeded");
    assert_eq!(r.status("quick"), "skipped");
    assert_eq!(r.dataset("report").lines().count(), 2);
    assert_eq!(r.status("strict"), "succeeded");
}

#[test]
fn a_var_value_is_an_operand_never_code() {
    let dir = tmp();
    // Pasted as text, this value would make the condition true.
    let r = run(dir.path(), IF_ELSE, &["--var", "mode=full' || 'a' == 'a"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("full"), "skipped");
    assert_eq!(r.status("quick"), "succeeded");
}

#[test]
fn a_var_of_the_wrong_type_exits_2() {
    let dir = tmp();
    let r = run(dir.path(), IF_ELSE, &["--var", "depth=deep"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad-var-type"), "{}", r.stderr);
    assert!(r.stderr.contains("recipe.yaml:4:"), "{}", r.stderr);
    // Numbers compare as numbers: 10 >= 2 (as text, "10" < "2").
    let r = run(dir.path(), IF_ELSE, &["--var", "depth=10"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("quick"), "succeeded");
    let r = run(dir.path(), IF_ELSE, &["--var", "depth=1"]);
    assert_eq!(r.status("quick"), "skipped");
    assert_eq!(r.status("report"), "succeeded");
}

#[test]
fn all_done_runs_after_a_failure_and_none_failed_does_not() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: cleanup
nodes:
  - id: scan
    run: "echo partial > {{ outputs.raw }}; exit 3"
    outputs: [raw]
  - id: merge
    trigger: none_failed
    run: "cat {{ inputs.raw }}"
    inputs: [raw]
  - id: notify
    trigger: all_done
    run: "wc -c < {{ inputs.raw }} > {{ outputs.note }}"
    inputs: [raw]
    outputs: [note]
  - id: after_merge
    trigger: all_done
    run: "true"
    depends_on: [merge]
"#,
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.record["status"], "failed");
    assert_eq!(r.status("scan"), "failed");
    assert_eq!(r.status("merge"), "skipped");
    assert!(
        r.node("merge")["reason"]
            .as_str()
            .unwrap()
            .contains("`scan` did not succeed")
    );
    // The clean-up ran although the failure stopped the run, and read an empty dataset:
    // a failed attempt's partial output is never promoted.
    assert_eq!(r.status("notify"), "succeeded");
    assert_eq!(r.dataset("note").trim(), "0");
    assert_eq!(r.status("after_merge"), "succeeded");
}

#[test]
fn condition_reads_typed_env() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: env-cond
vars: { stage: prod }
env: { STAGE: "{{ vars.stage }}" }
nodes:
  - id: only_dev
    when: "{{ env.STAGE }} == 'dev'"
    run: "true"
  - id: always
    when: "!({{ env.STAGE }} == 'dev') || false"
    run: "true"
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("only_dev"), "skipped");
    assert_eq!(r.status("always"), "succeeded");
    assert_eq!(r.record["counts"]["skipped"], 1);
}

/// The sample `workflows/conditional-scan.yaml` (when + trigger + include) runs both ways
/// on a fresh machine.
#[test]
fn the_conditional_sample_workflow_runs_both_branches() {
    let recipe =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows/conditional-scan.yaml");
    let dir = tmp();
    let go = |extra: &[&str]| {
        let out = std::process::Command::new(crate::support::BIN)
            .current_dir(dir.path())
            .arg("run-workflow")
            .arg(&recipe)
            .args(["--state-dir", "state", "--format", "json"])
            .args(extra)
            .env_remove("SECFLOW_HOME")
            .output()
            .unwrap();
        crate::support::finish(dir.path(), out)
    };
    let r = go(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["status"], "succeeded");
    assert_eq!(r.status("quick_scan"), "succeeded");
    assert_eq!(r.status("full_scan"), "skipped");
    assert_eq!(r.dataset("all_findings").lines().count(), 2);
    assert_eq!(r.status("notify"), "succeeded");
    let r = go(&["--var", "mode=full", "--var", "host_count=5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("quick_scan"), "skipped");
    assert_eq!(r.dataset("all_findings").lines().count(), 5);
    // min_hosts is a number: a word is refused before anything runs.
    let r = go(&["--var", "min_hosts=two"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad-var-type"), "{}", r.stderr);
}

const FAN_WHEN: &str = r#"
version: "1.0"
name: fan-when
vars: { mode: full }
nodes:
  - id: discover
    run: "printf '{\"h\":\"a\",\"port\":22}\n{\"h\":\"b\",\"port\":8443}\n{\"h\":\"x || true\",\"port\":80}\n' > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    when: "item.port > 100 && item.h != 'x || true'"
    run: "echo {{ item.h }}"
    inputs: [hosts]
  - id: audit
    foreach: [one, two]
    when: "{{ vars.mode }} == 'quick'"
    run: "echo {{ item }}"
"#;

#[test]
fn a_condition_on_item_is_evaluated_per_instance_and_one_without_once() {
    let dir = tmp();
    let r = run(dir.path(), FAN_WHEN, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Typed item fields: 22 < 100 (a number comparison, not text), 8443 > 100; the hostile
    // value is compared as data.
    assert_eq!(r.status("scan@0"), "skipped");
    assert_eq!(
        r.node("scan@0")["reason"],
        "condition false: item.port > 100 && item.h != 'x || true'"
    );
    assert_eq!(r.status("scan@1"), "succeeded");
    assert_eq!(r.status("scan@2"), "skipped");
    // A condition without item decides for the whole template: it never fans out.
    assert_eq!(r.status("audit"), "skipped");
    let nodes = r.record["nodes"].as_array().unwrap();
    assert!(
        !nodes.iter().any(|n| n["node_id"] == "audit@0"),
        "no instance of a skipped template: {nodes:?}"
    );
}
