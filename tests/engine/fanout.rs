//! Fan-out (SPEC §9) with real processes: `foreach` over a static list, a list var and the
//! records of an upstream dataset; `matrix`; gather; records per instance; zero items;
//! `max_instances`; `foreach_concurrency`; failure; hostile items; cache and resume per
//! instance.

use crate::support::{Run, run};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Asserts that the run failed (exit 1) at the fan-out node `scan` before any instance
/// started (no attempt, no instance directory); returns the node's reason.
fn failed_before_any_instance(r: &Run) -> &str {
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("scan"), "failed");
    assert!(r.node("scan")["attempts"].as_array().unwrap().is_empty());
    assert!(!r.run_dir.join("nodes/scan@0").exists());
    r.node("scan")["reason"].as_str().unwrap()
}

fn ids(r: &Run) -> Vec<String> {
    r.record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["node_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn static_foreach_over_maps_gathers_in_instance_order() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: fan
nodes:
  - id: scan
    foreach:
      - { host: a.example, port: 80 }
      - { host: b.example, port: 443 }
      - { host: c.example, port: 8080 }
    run: "printf '%s %s %s\n' {{ index }} {{ item.host }} {{ item.port }} > {{ outputs.hits }}"
    outputs: [hits]
  - id: merge
    run: "cat {{ inputs.hits }} > {{ outputs.all }}"
    inputs: [hits]
    outputs: [all]
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&r), ["scan@0", "scan@1", "scan@2", "merge"]);
    assert_eq!(
        r.dataset("all"),
        "0 a.example 80\n1 b.example 443\n2 c.example 8080\n"
    );
    assert_eq!(r.dataset("hits"), r.dataset("all"));
    let one = r.node("scan@1");
    assert_eq!(one["template"], "scan");
    assert_eq!(one["index"], 1);
    assert_eq!(one["item"], r#"{"host":"b.example","port":443}"#);
    assert!(
        one.get("item_sha256").is_none(),
        "short items are not hashed"
    );
    assert_eq!(one["outputs"]["hits"]["path"], "datasets/hits/1.jsonl");
    // Its attempt directory (the log files exist only once the tool writes: SPEC §4).
    assert!(r.run_dir.join("nodes/scan@2/1").is_dir());
    assert_eq!(
        std::fs::read_to_string(r.run_dir.join("datasets/hits/2.jsonl")).unwrap(),
        "2 c.example 8080\n"
    );
    assert_eq!(r.record["counts"]["succeeded"], 4);
}

#[test]
fn list_var_splits_on_commas_and_keeps_escaped_ones() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: fan
vars:
  targets: [x, y]
  flag: yes
  version: 1.10
  label: "a,b"
nodes:
  - id: scan
    foreach: "{{ vars.targets }}"
    run: "printf '%s|%s|%s|%s\n' \"{{ item }}\" \"{{ vars.label }}\" {{ vars.flag }} {{ vars.version }} > {{ outputs.out }}"
    outputs: [out]
"#;
    let r = run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Scalars read as written (YAML 1.1 `y`/`yes` and `1.10` are text, not true and 1.1).
    assert_eq!(r.dataset("out"), "x|a,b|yes|1.10\ny|a,b|yes|1.10\n");
    let r = run(
        dir.path(),
        recipe,
        &["--var", r"targets=p,q\,r,s", "--var", "label=c,d"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A list var splits; a var whose default is not a list never does.
    assert_eq!(
        r.dataset("out"),
        "p|c,d|yes|1.10\nq,r|c,d|yes|1.10\ns|c,d|yes|1.10\n"
    );
}

#[test]
fn dynamic_foreach_over_records_known_at_run_time() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: dyn
nodes:
  - id: discover
    run: |
      printf '{"host": "h1", "port": 1}\n\n   \nplain text\n{"host": "h3"}\n[1, 2]\n' > {{ outputs.hosts }}
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    inputs: [hosts]
    run: "printf '%s<%s>\n' {{ index }} \"{{ item }}\" > {{ outputs.seen }}"
    outputs: [seen]
  - id: hostnames
    foreach: "{{ inputs.hosts }}"
    inputs: [hosts]
    run: "printf '%s\n' \"{{ item.host }}\" > {{ outputs.names }}"
    outputs: [names]
    continue_on_error: true
"#,
        &[],
    );
    // `plain text` and `[1, 2]` have no `host`: those instances fail (continue_on_error).
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.dataset("seen"),
        "0<{\"host\": \"h1\", \"port\": 1}>\n1<plain text>\n2<{\"host\": \"h3\"}>\n3<[1, 2]>\n"
    );
    assert_eq!(r.node("scan@1")["item"], "plain text");
    assert_eq!(r.status("hostnames@0"), "succeeded");
    assert_eq!(r.status("hostnames@1"), "failed");
    assert!(
        r.node("hostnames@1")["reason"]
            .as_str()
            .unwrap()
            .contains("item.host"),
        "{}",
        r.node("hostnames@1")
    );
    assert_eq!(r.dataset("names"), "h1\nh3\n");
}

#[test]
fn hostile_items_reach_the_tool_byte_for_byte_and_never_execute() {
    let dir = tmp();
    let hostile = [
        "a; touch pwned1",
        "$(touch pwned2)",
        "`touch pwned3`",
        "it's \"quoted\"",
        "x\ny; touch pwned4",
        "--help",
    ];
    let list: Vec<String> = hostile
        .iter()
        .map(|h| serde_json::to_string(h).unwrap())
        .collect();
    let recipe = format!(
        r#"
version: "1.0"
name: hostile
nodes:
  - id: shell
    foreach: [{}]
    run: "printf '%s' \"{{{{ item }}}}\" > {{{{ outputs.a }}}}; printf '%s' {{{{ item }}}} > {{{{ outputs.b }}}}"
    outputs: [a, b]
  - id: argv
    foreach: [{}]
    command: [sh, -c, 'printf "%s" "$1" > "$2"', _, "{{{{ item }}}}", "{{{{ outputs.c }}}}"]
    outputs: [c]
"#,
        list.join(", "),
        list.join(", ")
    );
    let r = run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (i, h) in hostile.iter().enumerate() {
        for d in ["a", "b", "c"] {
            let got =
                std::fs::read_to_string(r.run_dir.join(format!("datasets/{d}/{i}.jsonl"))).unwrap();
            assert_eq!(&got, h, "dataset {d}, item {i}");
        }
    }
    for n in 1..=4 {
        assert!(
            !dir.path().join(format!("pwned{n}")).exists(),
            "pwned{n} was created"
        );
    }
    // Records from a dataset: the same, through dynamic fan-out.
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: hostile-dyn
nodes:
  - id: gen
    run: "printf '%s\n' 'a; touch pwned5' '$(touch pwned6)' '{\"k\": \"$(touch pwned7)\"}' > {{ outputs.items }}"
    outputs: [items]
  - id: use
    foreach: "{{ inputs.items }}"
    inputs: [items]
    run: "printf '%s' \"{{ item }}\" > {{ outputs.o }}"
    outputs: [o]
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = |i: usize| std::fs::read_to_string(r.run_dir.join(format!("datasets/o/{i}.jsonl")));
    assert_eq!(got(0).unwrap(), "a; touch pwned5");
    assert_eq!(got(1).unwrap(), "$(touch pwned6)");
    // A map item's `{{ item }}` is its line exactly as written.
    assert_eq!(got(2).unwrap(), r#"{"k": "$(touch pwned7)"}"#);
    for n in 5..=7 {
        assert!(!dir.path().join(format!("pwned{n}")).exists());
    }
}

#[test]
fn zero_items_skip_the_node_with_empty_outputs_and_dependants_run() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: empty
nodes:
  - id: discover
    run: "printf '\n\n' > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    inputs: [hosts]
    run: "echo {{ item }} > {{ outputs.findings }}"
    outputs: [findings]
  - id: report
    run: "wc -l < {{ inputs.findings }} > {{ outputs.report }}"
    inputs: [findings]
    outputs: [report]
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["status"], "succeeded");
    assert_eq!(r.status("scan"), "skipped");
    assert_eq!(r.node("scan")["reason"], "no items");
    assert_eq!(r.dataset("findings"), "");
    assert_eq!(r.status("report"), "succeeded");
    assert_eq!(r.dataset("report").trim(), "0");
}

#[test]
fn over_max_instances_fails_before_any_instance_and_memory_stays_flat() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: big
nodes:
  - id: discover
    run: "seq 1 3000000 > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    max_instances: 1000
    inputs: [hosts]
    run: "echo {{ item }} > {{ outputs.findings }}"
    outputs: [findings]
"#,
        &[],
    );
    let reason = failed_before_any_instance(&r);
    assert!(
        reason.contains("1000") && reason.contains("--max-instances"),
        "{reason}"
    );
    // Streaming: the 3 M-record source (about 20 MiB) is not held in memory.
    let rss = r.record["self_usage"]["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss < 64 << 20, "secflow peak RSS {rss}");

    // The command-line limit applies to nodes without their own.
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: static
nodes:
  - id: scan
    foreach: [a, b, c]
    run: "echo {{ item }} > {{ outputs.findings }}"
    outputs: [findings]
"#,
        &["--max-instances", "2"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.node("scan")["reason"]
            .as_str()
            .unwrap()
            .contains("3 instances, over its limit of 2"),
        "{}",
        r.node("scan")
    );
}

#[test]
fn matrix_is_a_cartesian_product_last_key_fastest() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: matrix
nodes:
  - id: build
    matrix:
      os: [linux, mac]
      v: [1, 2, 3]
    run: "echo {{ index }}-{{ matrix.os }}-{{ matrix.v }} > {{ outputs.o }}"
    outputs: [o]
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.dataset("o"),
        "0-linux-1\n1-linux-2\n2-linux-3\n3-mac-1\n4-mac-2\n5-mac-3\n"
    );
    assert_eq!(r.node("build@4")["matrix"]["os"], "mac");
}

#[test]
fn foreach_concurrency_caps_running_instances() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: capped
concurrency: 8
nodes:
  - id: slow
    foreach: [a, b, c, d, e, f]
    foreach_concurrency: 2
    run: "sleep 0.2"
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let spans: Vec<(String, String)> = (0..6)
        .map(|i| {
            let a = &r.node(&format!("slow@{i}"))["attempts"][0];
            (
                a["started_at"].as_str().unwrap().to_string(),
                a["ended_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (start, _) in &spans {
        let overlapping = spans
            .iter()
            .filter(|(s, e)| s.as_str() <= start.as_str() && start.as_str() < e.as_str())
            .count();
        assert!(
            overlapping <= 2,
            "{overlapping} instances at {start}: {spans:?}"
        );
    }
}

#[test]
fn a_failing_instance_fails_the_node_and_skips_its_dependants() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: failing
nodes:
  - id: scan
    foreach: [ok1, bad, ok2]
    run: "test {{ item }} != bad && echo {{ item }} > {{ outputs.o }}"
    outputs: [o]
  - id: merge
    run: "cat {{ inputs.o }} > {{ outputs.all }}"
    inputs: [o]
    outputs: [all]
"#;
    let r = run(dir.path(), recipe, &["--keep-going"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("scan@0"), "succeeded");
    assert_eq!(r.status("scan@1"), "failed");
    assert_eq!(r.status("scan@2"), "succeeded");
    assert_eq!(r.status("merge"), "skipped");
    assert!(
        r.node("merge")["reason"]
            .as_str()
            .unwrap()
            .contains("`scan`")
    );
    // continue_on_error: the consumer gets the instances that succeeded, in order.
    let r = run(
        dir.path(),
        &recipe.replace(
            "    outputs: [o]\n",
            "    outputs: [o]\n    continue_on_error: true\n",
        ),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.dataset("all"), "ok1\nok2\n");
}

#[test]
fn cache_per_instance_keyed_by_item_content() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: cached
state: { cache_intermediate: true }
vars:
  targets: [a]
nodes:
  - id: scan
    foreach: "{{ vars.targets }}"
    run: "echo {{ item }} > {{ outputs.o }}"
    outputs: [o]
"#;
    let statuses = |r: &Run| -> Vec<String> {
        r.record["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                format!(
                    "{}={}",
                    n["item"].as_str().unwrap(),
                    n["status"].as_str().unwrap()
                )
            })
            .collect()
    };
    let r = run(dir.path(), recipe, &["--var", "targets=a,b,c"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Reordering the list re-runs nothing.
    let r = run(dir.path(), recipe, &["--var", "targets=c,a,b"]);
    assert_eq!(statuses(&r), ["c=cached", "a=cached", "b=cached"]);
    assert_eq!(r.dataset("o"), "c\na\nb\n");
    // Adding one target runs one instance.
    let r = run(dir.path(), recipe, &["--var", "targets=c,a,d,b"]);
    assert_eq!(
        statuses(&r),
        ["c=cached", "a=cached", "d=succeeded", "b=cached"]
    );
    assert_eq!(r.dataset("o"), "c\na\nd\nb\n");
}

#[test]
fn resume_per_instance_after_a_failure_and_a_reorder() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: resumed
vars:
  targets: [a]
nodes:
  - id: discover
    run: "printf '%s\n' {{ vars.targets }} | tr , '\n' > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    inputs: [hosts]
    run: "test ! -e fail_{{ item }} && echo {{ item }} >> ran.log && echo {{ item }} > {{ outputs.o }}"
    outputs: [o]
"#;
    std::fs::write(dir.path().join("fail_b"), "").unwrap();
    let first = run(
        dir.path(),
        recipe,
        &["--var", "targets=a,b,c", "--keep-going"],
    );
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(first.status("scan@1"), "failed");
    std::fs::remove_file(dir.path().join("fail_b")).unwrap();
    std::fs::remove_file(dir.path().join("ran.log")).unwrap();
    let run_id = first.record["run_id"].as_str().unwrap();
    // A new record (d) and a new order: only b (failed before) and d run.
    let r = run(
        dir.path(),
        recipe,
        &["--resume", run_id, "--var", "targets=c,d,b,a"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ran = std::fs::read_to_string(dir.path().join("ran.log")).unwrap();
    let mut ran: Vec<&str> = ran.lines().collect();
    ran.sort_unstable();
    assert_eq!(ran, ["b", "d"]);
    assert_eq!(r.status("scan@0"), "cached");
    assert_eq!(r.status("scan@3"), "cached");
    assert_eq!(r.dataset("o"), "c\nd\nb\na\n");
}

/// `secflow ARGS` in `dir`: (exit code, stdout, stderr).
fn secflow(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = crate::support::TestRun::cmd(args).in_dir(dir).output();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Series of metrics.json and the distinct `node_id` labels among them.
fn series(r: &Run) -> (usize, std::collections::BTreeSet<String>) {
    let text = std::fs::read_to_string(r.run_dir.join("metrics.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    let series = m["series"].as_array().unwrap();
    let ids = series
        .iter()
        .filter_map(|s| s["labels"]["node_id"].as_str().map(str::to_string))
        .collect();
    (series.len(), ids)
}

#[test]
fn metric_series_do_not_grow_with_instances() {
    let dir = tmp();
    let recipe = |n: usize| {
        format!(
            r#"
version: "1.0"
name: wide
concurrency: 16
nodes:
  - id: scan
    matrix: {{ i: [{}] }}
    command: ["true"]
"#,
            (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        )
    };
    let small = run(dir.path(), &recipe(3), &[]);
    assert_eq!(small.code, 0, "{}", small.stderr);
    let big = run(dir.path(), &recipe(1000), &[]);
    assert_eq!(big.code, 0, "{}", big.stderr);
    assert_eq!(big.record["nodes"].as_array().unwrap().len(), 1000);
    let (n_small, ids_small) = series(&small);
    let (n_big, ids_big) = series(&big);
    assert_eq!(ids_big, ["scan".to_string()].into_iter().collect());
    assert_eq!(ids_small, ids_big);
    assert_eq!(n_small, n_big, "a 1000-instance node added series");
}

#[test]
fn samples_run_on_a_fresh_machine_and_analysis_groups_instances() {
    let dir = tmp();
    let root = env!("CARGO_MANIFEST_DIR");
    for (sample, fanned, instances) in [
        ("fanout-20-targets.yaml", "discover", 20),
        ("recon-dynamic.yaml", "scan", 5),
    ] {
        let path = format!("{root}/workflows/{sample}");
        let (code, out, err) = secflow(
            dir.path(),
            &[
                "run-workflow",
                &path,
                "--state-dir",
                "state",
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{sample}: {err}");
        let record: serde_json::Value = serde_json::from_str(&out).unwrap();
        let of_template = record["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["template"] == fanned)
            .count();
        assert_eq!(of_template, instances, "{sample}");
        let run_id = record["run_id"].as_str().unwrap();
        // Each instance has its own node span and log records.
        let run_dir = dir.path().join("state/runs").join(run_id);
        for file in ["spans.jsonl", "logs.jsonl"] {
            let text = std::fs::read_to_string(run_dir.join(file)).unwrap();
            assert!(
                text.contains(&format!("\"{fanned}@1\"")),
                "{sample}: {file}"
            );
        }
        let (code, out, err) = secflow(
            dir.path(),
            &[
                "performance-analysis",
                run_id,
                "--state-dir",
                "state",
                "--format",
                "json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let report: serde_json::Value = serde_json::from_str(&out).unwrap();
        let group = &report["fanouts"][0];
        assert_eq!(group["template"], fanned);
        assert_eq!(group["count"], instances);
        assert!(group["p95_ms"].as_u64().unwrap() <= group["max_ms"].as_u64().unwrap());
        assert_eq!(group["slowest"].as_array().unwrap().len(), instances.min(5));
        // The critical path runs through an instance.
        let path: Vec<&str> = report["critical_path"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| n.as_str())
            .collect();
        assert!(
            path.iter().any(|n| n.starts_with(&format!("{fanned}@"))),
            "{sample}: {path:?}"
        );
        // `logs --node` takes the template (every instance) or one instance.
        let (code, out, err) = secflow(
            dir.path(),
            &[
                "logs",
                run_id,
                "--state-dir",
                "state",
                "--node",
                fanned,
                "--raw",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&format!("\"{fanned}@1\"")), "{out}");
        let (code, out, err) = secflow(
            dir.path(),
            &[
                "logs",
                run_id,
                "--state-dir",
                "state",
                "--node",
                &format!("{fanned}@1"),
                "--raw",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert!(!out.contains(&format!("\"{fanned}@0\"")), "{out}");
    }
}

#[test]
fn dry_run_and_graph_show_fan_out() {
    let dir = tmp();
    let root = env!("CARGO_MANIFEST_DIR");
    let dynamic = format!("{root}/workflows/recon-dynamic.yaml");
    let (code, out, err) = secflow(dir.path(), &["run-workflow", &dynamic, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("scan × records of hosts (known at run time)"),
        "{out}"
    );
    let fixed = format!("{root}/workflows/fanout-20-targets.yaml");
    let (code, out, err) = secflow(
        dir.path(),
        &[
            "run-workflow",
            &fixed,
            "--dry-run",
            "--var",
            "targets=http://a,http://b",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("discover × 2:"), "{out}");
    assert!(
        out.contains("discover@0:") && out.contains("discover@1:"),
        "{out}"
    );
    assert!(!out.contains("discover@2"), "{out}");
    let (code, out, _) = secflow(dir.path(), &["graph", &dynamic, "--format", "mermaid"]);
    assert_eq!(code, 0);
    assert!(out.contains("exec × records of hosts"), "{out}");
    let (code, out, _) = secflow(dir.path(), &["graph", &fixed, "--format", "json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"fanout\": \"× 20\""), "{out}");
}

#[test]
fn fail_fast_terminates_the_running_instances() {
    let dir = tmp();
    let started = std::time::Instant::now();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: fast
concurrency: 4
nodes:
  - id: scan
    foreach: [bad, s1, s2]
    run: "if [ {{ item }} = bad ]; then sleep 0.5; exit 3; fi; sleep 30"
  - id: after
    run: "true"
    depends_on: [scan]
"#,
        &["--fail-fast"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(r.status("scan@0"), "failed");
    for id in ["scan@1", "scan@2"] {
        assert_ne!(r.status(id), "succeeded", "{}", r.node(id));
    }
    assert_eq!(r.status("after"), "skipped");
    assert_eq!(r.record["status"], "failed");
}

#[test]
fn target_takes_a_template_id_and_runs_every_instance() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: tgt
nodes:
  - id: scan
    foreach: [a, b, c]
    run: "echo {{ item }} > {{ outputs.o }}"
    outputs: [o]
  - id: after
    run: "cat {{ inputs.o }}"
    inputs: [o]
"#;
    let r = run(dir.path(), recipe, &["--target", "scan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&r), ["scan@0", "scan@1", "scan@2"]);
    assert_eq!(r.dataset("o"), "a\nb\nc\n");
    let r = run(dir.path(), recipe, &["--target", "scan@1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--target takes a template id, not an instance id: write `--target scan`"),
        "{}",
        r.stderr
    );
}

/// Attack: an upstream tool (or a list var) hands over an item equal to — or holding — a
/// secret's value; run.json's `item` and `matrix` must show it masked (SPEC §10: no secret
/// value in run.json), including a secret that straddles the 1 KiB cut of a long item.
#[test]
fn items_holding_a_secret_value_are_masked_in_run_json() {
    use crate::support::TestRun;
    let dir = tmp();
    let long = format!("{}hunter2-secret-value", "x".repeat(1020));
    std::fs::write(
        dir.path().join("items.txt"),
        format!("hunter2-secret-value\npre-hunter2-secret-value-post\n{{\"k\": \"hunter2-secret-value\"}}\n{long}\n"),
    )
    .unwrap();
    let r = TestRun::new(
        r#"
version: "1.0"
name: secret-items
secrets: [TOKEN]
nodes:
  - id: gen
    run: "cat items.txt > {{ outputs.items }}"
    outputs: [items]
  - id: use
    foreach: "{{ inputs.items }}"
    inputs: [items]
    run: "true"
  - id: mat
    matrix: { v: [hunter2-secret-value, plain] }
    run: "true"
"#,
    )
    .in_dir(dir.path())
    .env("TOKEN", "hunter2-secret-value")
    .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    for text in [
        r.stdout.clone(),
        std::fs::read_to_string(r.run_dir.join("run.json")).unwrap(),
    ] {
        assert!(!text.contains("hunter2"), "secret in run.json:\n{text}");
    }
    assert_eq!(r.node("use@0")["item"], "[REDACTED]");
    assert_eq!(r.node("use@1")["item"], "pre-[REDACTED]-post");
    assert_eq!(r.node("mat@0")["matrix"]["v"], "[REDACTED]");
    let cut = r.node("use@3");
    assert!(cut["item_sha256"].is_string());
    assert!(!cut["item"].as_str().unwrap().contains("hunt"), "{cut}");
}

/// Issue #18: run.json checkpoints come from the engine's one fold of the record, so the
/// instances a fan-out added (`InstancesAdded`) show in a checkpoint while they run, in
/// place of their template.
#[test]
fn a_checkpoint_shows_the_running_instances_of_a_fan_out() {
    let dir = tmp();
    let child = crate::support::command(
        dir.path(),
        "version: \"1.0\"\nname: f\nnodes:\n  - id: scan\n    foreach: [a, b]\n    run: \"echo up > started-{{ index }}; while [ ! -f go ]; do sleep 0.05; done\"\n",
        &["--run-id", "fan-live"],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    assert!(crate::support::wait_for_file(
        &dir.path().join("started-1"),
        20
    ));
    let path = dir.path().join("state/runs/fan-live/run.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let nodes: Vec<(String, String)> = now["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["node_id"].to_string(), n["status"].to_string()))
            .collect();
        let running = |id: &str| (format!("\"{id}\""), "\"running\"".to_string());
        if nodes == [running("scan@0"), running("scan@1")] {
            assert_eq!(now["nodes"][1]["template"], "scan");
            assert_eq!(now["status"], "running");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint: {now}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::fs::write(dir.path().join("go"), "").unwrap();
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(ids(&r), ["scan@0", "scan@1"]);
}

/// Attack: an upstream tool writes records holding bytes that are not UTF-8. They reached
/// the next tool with U+FFFD in place of the bad bytes — an item its producer never wrote.
/// The fan-out now fails before any instance, naming the dataset, the line and the byte.
#[test]
fn a_record_that_is_not_utf8_fails_the_fan_out_before_any_instance() {
    let dir = tmp();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: bytes
nodes:
  - id: discover
    run: "printf 'a.example\\nb\\377\\376.example\\n' > {{ outputs.hosts }}"
    outputs: [hosts]
  - id: scan
    foreach: "{{ inputs.hosts }}"
    inputs: [hosts]
    run: "echo {{ item }} > {{ outputs.findings }}"
    outputs: [findings]
"#,
        &[],
    );
    assert_eq!(r.status("discover"), "succeeded");
    let reason = failed_before_any_instance(&r);
    assert!(
        reason.contains("line 2 of `hosts`") && reason.contains("not valid UTF-8 (at byte 2)"),
        "{reason}"
    );
}

/// The record limit is on the record, not its line ending: a 1 MiB record ends `\r\n` or
/// `\n` alike; one byte more fails the fan-out, naming the limit.
#[test]
fn the_record_limit_counts_the_record_not_its_line_ending() {
    let dir = tmp();
    let recipe = |bytes: usize| {
        format!(
            r#"
version: "1.0"
name: big
nodes:
  - id: discover
    run: "head -c {bytes} /dev/zero | tr '\\0' a > {{{{ outputs.hosts }}}}; printf '\r\n' >> {{{{ outputs.hosts }}}}"
    outputs: [hosts]
  - id: scan
    foreach: "{{{{ inputs.hosts }}}}"
    inputs: [hosts]
    run: "true"
"#
        )
    };
    let r = run(dir.path(), &recipe(1 << 20), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("scan@0"), "succeeded", "{}", r.stderr);
    assert_eq!(
        r.node("scan@0")["item_sha256"].as_str().map(str::len),
        Some(64)
    );
    let r = run(dir.path(), &recipe((1 << 20) + 1), &[]);
    assert_eq!(r.status("scan"), "failed", "{}", r.stderr);
    let reason = r.node("scan")["reason"].as_str().unwrap();
    assert!(reason.contains("longer than 1048576 bytes"), "{reason}");
}
