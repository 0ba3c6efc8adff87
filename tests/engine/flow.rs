//! Engine integration tests with real processes: data flow, environment, datasets,
//! failure policy, `continue_on_error`, `--target`, `--dry-run`.

use crate::support::{Run, run};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn diamond_data_flows_through_promoted_datasets() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: diamond
vars: { count: "6" }
nodes:
  - id: gen
    run: "seq 1 {{ vars.count }} | sed 's/.*/{\"n\": &}/' > {{ outputs.numbers }}"
    outputs: [numbers]
  - id: evens
    run: "grep -E '[02468]}$' {{ inputs.numbers }} > {{ outputs.evens }}"
    inputs: [numbers]
    outputs: [evens]
  - id: odds
    command: [sh, -c, "grep -E '[13579]}$' \"$SECFLOW_INPUT_NUMBERS\" > \"$SECFLOW_OUTPUT_ODDS\""]
    inputs: [numbers]
    outputs: [odds]
  - id: join
    run: "cat {{ inputs.evens }} {{ inputs.odds }} | sort > {{ outputs.all_findings }}"
    inputs: [evens, odds]
    outputs: [all_findings]
"#,
        &["--var", "count=10"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["status"], "succeeded");
    assert_eq!(r.dataset("numbers").lines().count(), 10);
    assert_eq!(r.dataset("evens").lines().count(), 5);
    assert_eq!(r.node("join")["outputs"]["all_findings"]["records"], 10);
    assert_eq!(
        r.node("join")["outputs"]["all_findings"]["path"],
        "datasets/all_findings.jsonl"
    );
    assert_eq!(r.node("join")["findings_count"], 10);
    assert_eq!(r.record["findings_count"], 10);
    assert_eq!(r.record["counts"]["succeeded"], 4);
    let ids: Vec<&str> = r.record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gen", "evens", "odds", "join"]);
    // Usage figures come from wait4.
    let a = &r.node("gen")["attempts"][0];
    assert_eq!(a["exit_code"], 0);
    assert!(a["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(a["duration_ms"].is_u64() && a["queue_wait_ms"].is_u64());
    // The file on disk is the same final record.
    assert_eq!(r.written(), r.record);
    // SPEC §4: a stream the tool never wrote to has no file.
    assert!(!r.run_dir.join("nodes/gen/1/stdout.log").exists());
    assert!(r.run_dir.join("nodes/gen/1").is_dir(), "made for out/");
    assert!(
        !r.run_dir.join("nodes/gen/1/out/numbers.jsonl").exists(),
        "promoted by rename"
    );
}

#[test]
fn environment_follows_the_spec() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: env
env: { WF: one, BOTH: workflow }
nodes:
  - id: show
    env: { BOTH: node }
    config: { depth: 3, label: "x-{{ vars.v }}" }
    vars: {}
    run: "env > {{ outputs.env_dump }}; pwd >> {{ outputs.env_dump }}; cat /proc/self/stat > /dev/null; read x < /dev/stdin; echo \"stdin=$x\" >> {{ outputs.env_dump }}"
    outputs: [env_dump]
vars: { v: "7" }
"#,
        &["--run-id", "fixed-id"],
    );
    // `vars` under a node is not a field: validation says so, exit 2.
    assert_eq!(r.code, 2, "{}", r.stderr);

    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: env
vars: { v: "7" }
env: { WF: one, BOTH: workflow }
nodes:
  - id: show
    env: { BOTH: node }
    config: { depth: 3, label: "x-{{ vars.v }}" }
    run: "env > {{ outputs.env_dump }}; pwd >> {{ outputs.env_dump }}; read x; echo \"stdin=[$x]\" >> {{ outputs.env_dump }}"
    outputs: [env_dump]
  - id: clean
    env_clear: true
    run: "env > {{ outputs.clean_dump }}"
    outputs: [clean_dump]
"#,
        &["--run-id", "fixed-id"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let env = r.dataset("env_dump");
    let has = |line: &str| env.lines().any(|l| l == line);
    assert!(has("WF=one") && has("BOTH=node"), "{env}");
    assert!(
        has("SECFLOW_RUN_ID=fixed-id") && has("SECFLOW_NODE_ID=show") && has("SECFLOW_ATTEMPT=1")
    );
    let out_line = env
        .lines()
        .find(|l| l.starts_with("SECFLOW_OUTPUT_ENV_DUMP="))
        .unwrap();
    assert!(out_line.contains("/nodes/show/1/out/env_dump.jsonl") && out_line.contains("=/"));
    assert!(
        has(r#"SECFLOW_NODE_CONFIG={"depth":3,"label":"x-7"}"#),
        "{env}"
    );
    let tp = env.lines().find(|l| l.starts_with("TRACEPARENT=")).unwrap();
    assert!(tp.contains(r.record["trace_id"].as_str().unwrap()));
    assert!(
        has(&dir.path().canonicalize().unwrap().display().to_string())
            || env.contains(&dir.path().display().to_string())
    );
    assert!(has("stdin=[]"), "stdin is /dev/null: {env}");
    assert!(
        has("PATH=".to_string().as_str()) || env.contains("\nHOME=") || env.starts_with("HOME=")
    );
    let clean = r.dataset("clean_dump");
    for line in clean.lines() {
        let name = line.split('=').next().unwrap();
        assert!(
            [
                "PATH",
                "HOME",
                "LANG",
                "PWD",
                "SHLVL",
                "_",
                "TRACEPARENT",
                "WF",
                "BOTH"
            ]
            .contains(&name)
                || name.starts_with("SECFLOW_")
                || name.starts_with("__SECFLOW_V"),
            "env_clear leaked {name}"
        );
    }
}

#[test]
fn missing_secret_is_an_error_before_anything_runs() {
    let dir = tmp();
    let out = crate::support::command(
        dir.path(),
        "version: \"1.0\"\nname: s\nsecrets: [ENGINE_TEST_NOPE]\nnodes:\n  - id: a\n    run: \"touch ran\"\n",
        &[],
    )
    .env_remove("ENGINE_TEST_NOPE")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ENGINE_TEST_NOPE"));
    assert!(!dir.path().join("ran").exists());
}

/// Asserts that `node` failed and that its reason says `says`.
fn assert_failed_saying(r: &Run, node: &str, says: &str) {
    assert_eq!(r.status(node), "failed", "{node}");
    let reason = r.node(node)["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(says), "{node}: {reason}");
}

#[test]
fn missing_output_fails_the_node_with_a_clear_message() {
    let dir = tmp();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: m\nnodes:\n  - id: lazy\n    run: \"true\"\n    outputs: [result]\n  - id: after\n    run: \"cat {{ inputs.result }}\"\n    inputs: [result]\n",
        &[],
    );
    assert_eq!(r.code, 1);
    assert_failed_saying(&r, "lazy", "declared output `result` was not written");
    assert_eq!(r.status("after"), "skipped");
    assert!(r.node("after")["reason"].as_str().unwrap().contains("lazy"));
}

const POLICY: &str = r#"
version: "1.0"
name: policy
concurrency: 2
nodes:
  - id: bad
    run: "exit 3"
  - id: slow
    run: "sleep 1; touch slow.done"
  - id: later
    run: "touch later.done"
  - id: after_bad
    run: "touch after_bad.done"
    depends_on: [bad]
"#;

fn policy(args: &[&str]) -> (Run, tempfile::TempDir) {
    let dir = tmp();
    let r = run(dir.path(), POLICY, args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("bad"), "failed");
    assert_eq!(r.node("bad")["attempts"][0]["exit_code"], 3);
    assert_eq!(r.status("after_bad"), "skipped");
    assert!(!dir.path().join("after_bad.done").exists());
    (r, dir)
}

#[test]
fn default_policy_lets_running_nodes_finish_and_starts_no_more() {
    let (r, dir) = policy(&[]);
    assert_eq!(r.status("slow"), "succeeded");
    assert!(dir.path().join("slow.done").exists());
    assert_eq!(r.status("later"), "skipped");
    assert!(r.node("later")["reason"].as_str().unwrap().contains("bad"));
    assert!(!dir.path().join("later.done").exists());
    assert_eq!(r.record["status"], "failed");
}

#[test]
fn fail_fast_terminates_running_nodes() {
    let (r, dir) = policy(&["--fail-fast"]);
    assert_eq!(r.status("slow"), "cancelled");
    assert!(!dir.path().join("slow.done").exists());
    assert_eq!(r.status("later"), "skipped");
}

#[test]
fn keep_going_runs_everything_whose_inputs_exist() {
    let (r, dir) = policy(&["--keep-going"]);
    assert_eq!(r.status("slow"), "succeeded");
    assert_eq!(r.status("later"), "succeeded");
    assert!(dir.path().join("later.done").exists());
    assert_eq!(r.record["counts"]["failed"], 1);
    assert_eq!(r.record["counts"]["skipped"], 1);
}

#[test]
fn continue_on_error_lets_dependants_run_on_empty_outputs() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: coe
nodes:
  - id: flaky_tool
    run: "echo partial > {{ outputs.raw }}; exit 4"
    outputs: [raw]
    continue_on_error: true
  - id: consume
    run: "wc -l < {{ inputs.raw }} > {{ outputs.count }}"
    inputs: [raw]
    outputs: [count]
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["status"], "succeeded");
    assert_eq!(r.status("flaky_tool"), "failed");
    assert_eq!(r.node("flaky_tool")["outputs"]["raw"]["records"], 0);
    assert_eq!(r.dataset("raw"), "");
    assert_eq!(r.status("consume"), "succeeded");
    assert_eq!(r.dataset("count").trim(), "0");
}

#[test]
fn target_runs_the_node_and_its_upstream_only() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: t
nodes:
  - id: a
    run: "echo a > {{ outputs.x }}"
    outputs: [x]
  - id: b
    run: "cat {{ inputs.x }} > {{ outputs.y }}"
    inputs: [x]
    outputs: [y]
  - id: c
    run: "touch c.done"
    depends_on: [a]
"#,
        &["--target", "b"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ids: Vec<&str> = r.record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(!dir.path().join("c.done").exists());
    let bad = run(
        dir.path(),
        "version: \"1.0\"\nname: t\nnodes:\n  - id: a\n    run: \"true\"\n",
        &["--target", "zz"],
    );
    assert_eq!(bad.code, 2);
}

#[test]
fn dry_run_prints_the_plan_and_executes_nothing() {
    let dir = tmp();
    let recipe = "version: \"1.0\"\nname: d\nnodes:\n  - id: a\n    run: \"touch ran; echo > {{ outputs.x }}\"\n    outputs: [x]\n  - id: b\n    command: [cat, \"{{ inputs.x }}\"]\n    inputs: [x]\n";
    let out = crate::support::command(dir.path(), recipe, &["--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["levels"], serde_json::json!([["a"], ["b"]]));
    assert_eq!(
        plan["nodes"][1]["argv"],
        serde_json::json!(["cat", "<run-dir>/datasets/x.jsonl"])
    );
    assert!(
        plan["nodes"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "SECFLOW_OUTPUT_X")
    );
    assert!(!dir.path().join("ran").exists());
    assert!(!dir.path().join("state").exists());
    let out = std::process::Command::new(crate::support::BIN)
        .current_dir(dir.path())
        .args(["run", "recipe.yaml", "--dry-run"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("level 1:") && text.contains("sh -c"),
        "{text}"
    );
}

#[test]
fn run_json_is_written_at_start_while_the_run_is_going() {
    let dir = tmp();
    let child = crate::support::command(
        dir.path(),
        "version: \"1.0\"\nname: w\nnodes:\n  - id: wait\n    run: \"echo up > started; while [ ! -f go ]; do sleep 0.05; done\"\n",
        &["--run-id", "live"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    assert!(crate::support::wait_for_file(
        &dir.path().join("started"),
        20
    ));
    let path = dir.path().join("state/runs/live/run.json");
    let live: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(live["status"], "running");
    assert_eq!(live["exit_code"], serde_json::Value::Null);
    assert_eq!(live["nodes"][0]["node_id"], "wait");
    // The checkpoint thread writes the node's progress within the interval (1 s default).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if now["nodes"][0]["status"] == "running" {
            assert_eq!(now["nodes"][0]["attempts"][0]["status"], "running");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint: {now}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::fs::write(dir.path().join("go"), "").unwrap();
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0);
    assert_eq!(r.written()["status"], "succeeded");
    assert!(!dir.path().join("state/runs/live/run.json.tmp").exists());
}

#[test]
fn a_program_that_does_not_exist_fails_the_node_clearly() {
    let dir = tmp();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: n\nnodes:\n  - id: ghost\n    command: [secflow-test-no-such-program, x]\n",
        &[],
    );
    assert_eq!(r.code, 1);
    assert_failed_saying(&r, "ghost", "cannot start `secflow-test-no-such-program`");
}

/// Failures inside the child, after secflow has started it (the program cannot be executed,
/// the working directory is missing), are reported like one found before starting.
#[test]
fn a_child_that_cannot_run_its_program_fails_the_node_clearly() {
    let dir = tmp();
    std::fs::write(dir.path().join("not-executable.sh"), "echo hi\n").unwrap();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: n\nnodes:\n  - id: noexec\n    command: [./not-executable.sh]\n  - id: nodir\n    command: [\"true\"]\n    workdir: no-such-dir\n",
        &["--keep-going"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    for (node, says) in [
        (
            "noexec",
            "cannot start `./not-executable.sh`: Permission denied",
        ),
        ("nodir", "cannot change to working directory"),
    ] {
        assert_failed_saying(&r, node, says);
        // Recorded like a program not found in PATH: it never started.
        let attempt = &r.node(node)["attempts"][0];
        assert!(attempt["exit_code"].is_null(), "{node}: {attempt}");
        assert!(attempt["started_at"].is_null(), "{node}: {attempt}");
        assert!(attempt["duration_ms"].is_null(), "{node}: {attempt}");
    }
    assert!(
        r.node("nodir")["reason"]
            .as_str()
            .unwrap()
            .contains("no-such-dir")
    );
}

#[test]
fn command_line_options_reach_the_record() {
    let dir = tmp();
    let recipe = "version: \"1.0\"\nname: o\nvars: { who: recipe }\nconcurrency: 3\nnodes:\n  - id: a\n    run: \"echo {{ vars.who }} > {{ outputs.said }}\"\n    outputs: [said]\n";
    let r = run(
        dir.path(),
        recipe,
        &["--run-id", "r1", "--var", "who=cli", "--concurrency", "5"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["run_id"], "r1");
    assert_eq!(r.record["concurrency"], 5);
    assert_eq!(r.record["vars"]["who"], "cli");
    assert_eq!(r.dataset("said"), "cli\n");
    assert_eq!(r.record["executor"], "local");
    assert!(r.record["self_usage"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    // The same run id again is refused; so is a malformed --var.
    assert_eq!(run(dir.path(), recipe, &["--run-id", "r1"]).code, 2);
    assert_eq!(run(dir.path(), recipe, &["--var", "novalue"]).code, 2);
    let defaulted = run(dir.path(), recipe, &[]);
    assert_eq!(defaulted.record["concurrency"], 3);
}
