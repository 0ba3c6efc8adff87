//! Resume and the node cache, with real runs: which nodes execute again is read from a log
//! file each node appends to, and from run.json.

use std::path::Path;

use crate::support::{Run, TestRun, run};

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
        .join("state/runs")
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

fn run_dir(dir: &Path, r: &Run) -> std::path::PathBuf {
    dir.join("state/runs")
        .join(r.record["run_id"].as_str().unwrap())
}

fn reason(r: &Run, node: &str) -> String {
    r.record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == node)
        .and_then(|n| n["reason"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Issue 19 finding 3: cache restores were hard links, so a node appending to its input
/// rewrote the cache entry and every earlier run's dataset (link count 4 after three runs).
#[test]
fn a_node_appending_to_its_input_changes_neither_the_cache_nor_earlier_runs() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: appender
state: { cache_intermediate: true }
nodes:
  - id: gen
    run: "printf '1\n2\n' > {{ outputs.nums }}"
    outputs: [nums]
  - id: app
    run: "echo x >> {{ inputs.nums }}; wc -l < {{ inputs.nums }} > {{ outputs.count }}"
    inputs: [nums]
    outputs: [count]
"#;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let r = run(dir.path(), recipe, &[]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert_eq!(status(&r, "app"), "failed");
        assert!(
            reason(&r, "app").contains("input modified"),
            "{}",
            reason(&r, "app")
        );
        runs.push(r);
    }
    assert_eq!(status(&runs[2], "gen"), "cached");
    // Each earlier run's dataset and the cache entry are their own files, as written by gen.
    for r in &runs[..2] {
        let nums = run_dir(dir.path(), r).join("datasets/nums.jsonl");
        assert_eq!(std::fs::metadata(&nums).unwrap().nlink(), 1);
    }
    let mut entries = Vec::new();
    for e in walk(&dir.path().join("state/cache")) {
        if e.ends_with("nums.jsonl") {
            entries.push(e);
        }
    }
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(std::fs::read_to_string(&entries[0]).unwrap(), "1\n2\n");
    assert_eq!(std::fs::metadata(&entries[0]).unwrap().nlink(), 1);
    let third = run_dir(dir.path(), &runs[2]).join("datasets/nums.jsonl");
    assert_eq!(std::fs::metadata(&third).unwrap().nlink(), 1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Issue 19 finding 3: a file the node reads on its own changed, and the next run served the
/// old result as `cached`; `cache: false` was an unknown field.
#[test]
fn sources_enter_the_cache_key_and_cache_false_opts_out() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    std::fs::write(dir.path().join("site/alpha.html"), "<p>a</p>").unwrap();
    let recipe = r#"
version: "1.0"
name: sources
state: { cache_intermediate: true }
nodes:
  - id: scan
    run: "echo scan >> executed.log; cat site/*.html > {{ outputs.found }}"
    sources: ["site/**/*.html"]
    outputs: [found]
  - id: fresh
    cache: false
    run: "echo fresh >> executed.log"
"#;
    assert_eq!(run(dir.path(), recipe, &[]).code, 0);
    assert_eq!(executed(dir.path()), ["fresh", "scan"]);
    let same = run(dir.path(), recipe, &[]);
    assert_eq!(executed(dir.path()), ["fresh"], "{}", same.stderr);
    assert_eq!(status(&same, "scan"), "cached");
    assert_eq!(status(&same, "fresh"), "succeeded");
    std::fs::write(dir.path().join("site/alpha.html"), "<p>b</p>").unwrap();
    let changed = run(dir.path(), recipe, &[]);
    assert_eq!(executed(dir.path()), ["fresh", "scan"]);
    assert_eq!(status(&changed, "scan"), "succeeded");
    // A new matching file counts too; a glob matching nothing is a warning.
    std::fs::write(dir.path().join("site/beta.html"), "<p>c</p>").unwrap();
    let added = run(
        dir.path(),
        &recipe.replace("[\"site/**/*.html\"]", "[\"site/**/*.html\", \"none/*.c\"]"),
        &[],
    );
    assert_eq!(executed(dir.path()), ["fresh", "scan"]);
    assert!(
        added.stderr.contains("`none/*.c` matches no file"),
        "{}",
        added.stderr
    );
    // --resume notices a changed source too.
    let id = added.record["run_id"].as_str().unwrap().to_string();
    std::fs::write(dir.path().join("site/beta.html"), "<p>d</p>").unwrap();
    let resumed = run(
        dir.path(),
        &recipe.replace("cache_intermediate: true", "cache_intermediate: false"),
        &["--resume", &id],
    );
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(
        executed(dir.path()),
        ["scan"],
        "`fresh` did not change: resume reuses it"
    );
    assert!(
        resumed.stderr.contains("`scan` changed since run"),
        "{}",
        resumed.stderr
    );
}

const LINT_BUILD: &str = r#"
version: "1.0"
name: lint-build
nodes:
  - id: lint
    run: "echo lint >> executed.log; echo LINT_VERSION > /dev/null"
  - id: gen
    run: "echo gen >> executed.log; echo GEN_VALUE > {{ outputs.g }}"
    outputs: [g]
  - id: build
    depends_on: [lint]
    run: "echo build >> executed.log"
  - id: use
    run: "echo use >> executed.log; cat {{ inputs.g }} > /dev/null"
    inputs: [g]
"#;

/// Issue 19 finding 4: `--resume` re-ran a changed `lint` but reused `build`, which
/// `depends_on: [lint]`; `--resume last` took any workflow's run; another workflow's run was
/// accepted silently.
#[test]
fn resume_reruns_dependants_and_only_resumes_the_same_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), LINT_BUILD, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    executed(dir.path());
    let id = first.record["run_id"].as_str().unwrap().to_string();

    let lint_changed = LINT_BUILD.replace("LINT_VERSION", "LINT_VERSION_2");
    let r = run(dir.path(), &lint_changed, &["--resume", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(executed(dir.path()), ["build", "lint"]);
    assert!(
        r.stderr.contains("`build` runs again: `lint`"),
        "{}",
        r.stderr
    );

    // gen re-runs with the same output bytes: its data dependant is reused; with other
    // bytes, it runs again.
    let gen_same = LINT_BUILD.replace("echo gen >>", "echo  gen >>");
    let r = run(dir.path(), &gen_same, &["--resume", &id]);
    assert_eq!(executed(dir.path()), ["gen"], "{}", r.stderr);
    let gen_other = LINT_BUILD.replace("GEN_VALUE", "GEN_OTHER");
    let r = run(dir.path(), &gen_other, &["--resume", &id]);
    assert_eq!(executed(dir.path()), ["gen", "use"], "{}", r.stderr);

    // Another workflow's run: refused (exit 2) unless --force.
    let other = "version: \"1.0\"\nname: other\nnodes:\n  - id: lint\n    run: \"echo other >> executed.log\"\n";
    std::fs::write(dir.path().join("other.yaml"), other).unwrap();
    let refused = TestRun::cmd(["run-workflow", "--resume", &id, "other.yaml"])
        .args(["--state-dir", "state"])
        .in_dir(dir.path())
        .output();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("workflow `lint-build`, not of `other`")
    );
    assert!(executed(dir.path()).is_empty());
    let forced = run(dir.path(), other, &["--resume", &id, "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    executed(dir.path());

    // `last` is the newest run of this workflow, not the newest run.
    let last = run(dir.path(), LINT_BUILD, &["--resume", "last"]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert_ne!(last.record["resumed_from"], forced.record["run_id"]);
    assert_eq!(last.record["resumed_from"], r.record["run_id"]);
}

/// Lowercase hex SHA-256 of the file at `path`.
fn sha256_of(path: &Path) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `data` of the audit event of type `kind` for `node` in the run's chain.
fn audit_data(r: &Run, kind: &str, node: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(r.run_dir.join("audit.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event_type"] == kind && e["data"]["node_id"] == node)
        .map(|e| e["data"].clone())
        .unwrap_or_else(|| panic!("no {kind} event for {node}:\n{text}"))
}

/// Run directories beside `run_dir`.
fn run_count(run_dir: &Path) -> usize {
    let runs = run_dir.parent().unwrap();
    std::fs::read_dir(runs).unwrap().count()
}

#[test]
fn resume_reuses_only_datasets_whose_digest_the_audit_chain_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let failed = run(dir.path(), FLAKY, &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let id = failed.record["run_id"].as_str().unwrap().to_string();
    let data = failed.run_dir.join("datasets/data.jsonl");
    let digest = sha256_of(&data);
    // The digest is in run.json and, signed, in the node's audit event.
    assert_eq!(failed.node("fetch")["outputs"]["data"]["sha256"], digest);
    let signed = audit_data(&failed, "node.completed", "fetch");
    assert_eq!(signed["outputs"]["data"]["sha256"], digest);
    assert_eq!(
        signed["outputs"]["data"]["bytes"],
        std::fs::metadata(&data).unwrap().len()
    );
    assert_eq!(signed["cache_key"], failed.node("fetch")["cache_key"]);
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let planted = "{\"planted\": true}\n";
    let record_path = failed.run_dir.join("run.json");
    let original_record = std::fs::read_to_string(&record_path).unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "{\"secret\": \"s3cr3t\"}\n").unwrap();

    // Each way a tool of the same user could rewrite the earlier run after it ended: the
    // dataset's bytes, the bytes and the digest run.json records, a symlink to a file the
    // tool cannot read itself, run.json pointing at a file outside the run.
    type Attack<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let attacks: [Attack; 4] = [
        (
            "rewritten dataset",
            Box::new(|| std::fs::write(&data, planted).unwrap()),
        ),
        (
            "rewritten dataset and run.json digest",
            Box::new(|| {
                std::fs::write(&data, planted).unwrap();
                let forged = original_record.replace(&digest, &sha256_of(&data));
                assert_ne!(forged, original_record);
                std::fs::write(&record_path, forged).unwrap();
            }),
        ),
        (
            "symlinked dataset",
            Box::new(|| {
                std::fs::remove_file(&data).unwrap();
                std::os::unix::fs::symlink(&secret, &data).unwrap();
            }),
        ),
        (
            "run.json path outside the run",
            Box::new(|| {
                let outside = secret.display().to_string();
                let forged = original_record.replace("datasets/data.jsonl", &outside);
                assert_ne!(forged, original_record);
                std::fs::write(&record_path, forged).unwrap();
            }),
        ),
    ];
    let original_data = std::fs::read(&data).unwrap();
    for (attack, tamper) in &attacks {
        let _ = std::fs::remove_file(&data);
        std::fs::write(&data, &original_data).unwrap();
        std::fs::write(&record_path, &original_record).unwrap();
        tamper();
        executed(dir.path());
        let resumed = run(dir.path(), FLAKY, &["--resume", &id]);
        assert_eq!(resumed.code, 0, "{attack}: {}", resumed.stderr);
        assert_eq!(
            executed(dir.path()),
            ["fetch", "parse", "report"],
            "{attack}: fetch runs again"
        );
        assert_eq!(resumed.status("fetch"), "succeeded", "{attack}");
        let copied = std::fs::read_to_string(resumed.run_dir.join("datasets/data.jsonl")).unwrap();
        assert_eq!(copied, "{\"n\": 1}\n", "{attack}");
        for file in [
            "datasets/data.jsonl",
            "datasets/parsed.jsonl",
            "datasets/report.jsonl",
        ] {
            let text = std::fs::read_to_string(resumed.run_dir.join(file)).unwrap();
            assert!(
                !text.contains("planted") && !text.contains("s3cr3t"),
                "{attack}: {file}"
            );
        }
        if *attack != "run.json path outside the run" {
            assert!(
                resumed.stderr.contains("cannot reuse the outputs of run"),
                "{attack}: {}",
                resumed.stderr
            );
        }
    }

    // Untouched, the same run is reused, and the reused node's event carries the digest on.
    std::fs::remove_file(&data).unwrap();
    std::fs::write(&data, &original_data).unwrap();
    std::fs::write(&record_path, &original_record).unwrap();
    executed(dir.path());
    let resumed = run(dir.path(), FLAKY, &["--resume", &id]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(executed(dir.path()), ["parse", "report"]);
    assert_eq!(resumed.status("fetch"), "cached");
    assert_eq!(
        audit_data(&resumed, "node.cached", "fetch")["outputs"]["data"]["sha256"],
        digest
    );
}

#[test]
fn resume_refuses_a_run_whose_audit_trail_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let failed = run(dir.path(), FLAKY, &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let id = failed.record["run_id"].as_str().unwrap().to_string();
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let audit = failed.run_dir.join("audit.jsonl");
    let chain = std::fs::read_to_string(&audit).unwrap();
    let record_path = failed.run_dir.join("run.json");
    let record = std::fs::read_to_string(&record_path).unwrap();
    let refused = |extra: &[&str], why: &str, env: Option<&str>| {
        let before = run_count(&failed.run_dir);
        let mut args = vec!["--resume", id.as_str()];
        args.extend_from_slice(extra);
        let mut r = TestRun::new(FLAKY).in_dir(dir.path()).args(&args);
        if let Some(key) = env {
            r = r.env("SECFLOW_AUDIT_KEY", key);
        }
        let out = r.run();
        assert_eq!(out.code, 2, "{why}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("run {id} cannot be resumed")) && out.stderr.contains(why),
            "{why}: {}",
            out.stderr
        );
        assert_eq!(
            run_count(&failed.run_dir),
            before,
            "{why}: no run directory"
        );
    };

    // An edited event (the dataset digest swapped for another).
    let digest = failed.node("fetch")["outputs"]["data"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let edited = chain.replace(&digest, &"0".repeat(64));
    assert_ne!(edited, chain);
    std::fs::write(&audit, edited).unwrap();
    refused(&[], "its audit trail was edited", None);

    // A chain cut in the middle (an event deleted).
    let mut lines: Vec<&str> = chain.lines().collect();
    lines.remove(2);
    std::fs::write(&audit, lines.join("\n") + "\n").unwrap();
    refused(&[], "its audit trail was", None);
    std::fs::write(&audit, &chain).unwrap();

    // A sparse tail of 4 GiB without a newline: refused at once, not read through.
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&audit)
        .unwrap();
    file.set_len(chain.len() as u64 + (4 << 30)).unwrap();
    let started = std::time::Instant::now();
    refused(&[], "its audit trail was", None);
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    std::fs::write(&audit, &chain).unwrap();

    // The chain written with another key than this run's.
    refused(&[], "another key", Some(&"ab".repeat(32)));

    // run.json saying it is another run.
    let other = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    std::fs::write(&record_path, record.replace(&id, other)).unwrap();
    refused(&["--force"], &format!("belongs to run {other}"), None);
    std::fs::write(&record_path, &record).unwrap();

    // Intact again: resumed.
    let resumed = run(dir.path(), FLAKY, &["--resume", &id]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(resumed.status("fetch"), "cached");
}

/// Runs `cmd` to its end, killing it after `secs` (a hang fails the test, never blocks it).
fn output_within(mut cmd: std::process::Command, secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn resume_takes_keys_sizes_and_names_from_the_chain_not_from_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let failed = run(dir.path(), FLAKY, &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let id = failed.record["run_id"].as_str().unwrap().to_string();
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let record_path = failed.run_dir.join("run.json");
    let record = std::fs::read_to_string(&record_path).unwrap();
    let datasets = failed.run_dir.join("datasets");
    let data = datasets.join("data.jsonl");
    let original = std::fs::read(&data).unwrap();
    let resume = |recipe: &str, what: &str| {
        executed(dir.path());
        let r = run(dir.path(), recipe, &["--resume", &id]);
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        (r, executed(dir.path()))
    };

    // A changed node whose key was forged into run.json (the new definition's key, learnt
    // from a scratch run) runs again: the key that counts is the signed one.
    let changed = FLAKY.replace("{\\\"n\\\": 1}", "{\\\"n\\\": 2}");
    let scratch = tempfile::tempdir().unwrap();
    let probe = run(scratch.path(), &changed, &[]);
    let new_key = probe.node("fetch")["cache_key"]
        .as_str()
        .unwrap()
        .to_string();
    let old_key = failed.node("fetch")["cache_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_key, old_key);
    std::fs::write(&record_path, record.replace(&old_key, &new_key)).unwrap();
    let (r, ran) = resume(&changed, "forged key");
    assert_eq!(ran, ["fetch", "parse", "report"], "forged key");
    assert!(
        r.stderr.contains("`fetch` changed since run"),
        "{}",
        r.stderr
    );
    assert_eq!(r.dataset("data").trim(), "{\"n\": 2}");
    std::fs::write(&record_path, &record).unwrap();

    // A symlink at any component is not followed (here `datasets/` itself, to the genuine
    // bytes).
    let real = failed.run_dir.join("datasets.real");
    std::fs::rename(&datasets, &real).unwrap();
    std::os::unix::fs::symlink(&real, &datasets).unwrap();
    let (r, ran) = resume(FLAKY, "symlinked datasets/");
    assert_eq!(ran, ["fetch", "parse", "report"], "{}", r.stderr);
    std::fs::remove_file(&datasets).unwrap();
    std::fs::rename(&real, &datasets).unwrap();

    // A dataset of another size (here a sparse 4 GiB file) is refused unread: no copy, no
    // wait.
    let file = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    file.set_len(4 << 30).unwrap();
    let started = std::time::Instant::now();
    let (r, ran) = resume(FLAKY, "sparse dataset");
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    assert_eq!(ran, ["fetch", "parse", "report"]);
    assert!(
        r.stderr.contains("its audit trail recorded"),
        "{}",
        r.stderr
    );
    assert!(
        std::fs::metadata(r.run_dir.join("datasets/data.jsonl"))
            .unwrap()
            .len()
            < 100
    );
    std::fs::remove_file(&data).unwrap();
    std::fs::write(&data, &original).unwrap();

    // The run copied under another run's name is refused: a chain is its run's.
    let runs = failed.run_dir.parent().unwrap();
    let renamed = runs.join("01ARZ3NDEKTSV4RRFFQ69G5FAV");
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(&failed.run_dir)
        .arg(&renamed)
        .status()
        .unwrap();
    assert!(out.success());
    let r = run(
        dir.path(),
        FLAKY,
        &["--resume", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("named after it"), "{}", r.stderr);
    std::fs::remove_dir_all(&renamed).unwrap();

    // A FIFO or a huge sparse run.json among the runs: `--resume last` neither hangs nor
    // reads it.
    let fifo_run = runs.join("zz-fifo");
    std::fs::create_dir(&fifo_run).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(fifo_run.join("run.json"))
            .status()
            .unwrap()
            .success()
    );
    let big_run = runs.join("zz-big");
    std::fs::create_dir(&big_run).unwrap();
    let big = std::fs::File::create(big_run.join("run.json")).unwrap();
    big.set_len(8 << 30).unwrap();
    executed(dir.path());
    let out = output_within(
        crate::support::command(dir.path(), FLAKY, &["--resume", "last"]),
        60,
    );
    let r = crate::support::finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The newest readable run is the last resume above, which succeeded: nothing runs.
    assert!(executed(dir.path()).is_empty());
    let from = r.record["resumed_from"].as_str().unwrap();
    assert!(from.starts_with("01"), "{from}");
}

#[test]
fn resume_on_failure_never_resumes_a_run_its_chain_does_not_vouch_for() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = |name: &str, text: &str| {
        format!(
            r#"
version: "1.0"
name: {name}
state: {{ resume_on_failure: true }}
nodes:
  - id: fetch
    run: "echo fetch >> executed.log; echo '{{\"host\": \"{text}\"}}' > {{{{ outputs.data }}}}"
    outputs: [data]
  - id: report
    run: "echo report >> executed.log; test -f fixed || exit 3; cat {{{{ inputs.data }}}} > {{{{ outputs.report }}}}"
    inputs: [data]
    outputs: [report]
"#
        )
    };
    // Another workflow succeeds; its run.json is made to look like a failed run of the
    // victim (name, recipe digest, status, the victim's key).
    let victim = recipe("victim", "genuine");
    let other = run(dir.path(), &recipe("other", "ATTACKER"), &["--fresh"]);
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let other_ok = run(dir.path(), &recipe("other", "ATTACKER"), &["--fresh"]);
    assert_eq!(other_ok.code, 0, "{}", other_ok.stderr);
    drop(other);
    let scratch = tempfile::tempdir().unwrap();
    let probe = run(scratch.path(), &victim, &[]);
    // Forged in place: the newest run, under its own name, so only its chain can tell.
    let planted = other_ok.run_dir.clone();
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(planted.join("run.json")).unwrap()).unwrap();
    forged["workflow"] = probe.record["workflow"].clone();
    forged["status"] = "failed".into();
    forged["nodes"][0]["cache_key"] = probe.node("fetch")["cache_key"].clone();
    std::fs::write(planted.join("run.json"), forged.to_string()).unwrap();
    executed(dir.path());
    let r = run(dir.path(), &victim, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(executed(dir.path()), ["fetch", "report"]);
    assert!(r.stderr.contains("not resuming"), "{}", r.stderr);
    assert!(r.record["resumed_from"].is_null());
    assert!(
        r.dataset("report").contains("genuine"),
        "{}",
        r.dataset("report")
    );
}

#[test]
fn a_planted_or_edited_cache_entry_is_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &branches(true, "x"), &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    executed(dir.path());
    let key = first.node("a")["cache_key"].as_str().unwrap().to_string();
    let entry = dir.path().join("state/cache").join(&key[..2]).join(&key);
    let file = entry.join("a_out.jsonl");
    let genuine = std::fs::read_to_string(&file).unwrap();
    let entry_json = std::fs::read_to_string(entry.join("entry.json")).unwrap();
    let planted = "{\"v\": \"P\"}\n";
    assert_eq!(
        planted.len(),
        genuine.len(),
        "same size: only the digest tells"
    );
    let digest = |text: &str| {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(text.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    // Each way a tool of the same user (without the audit key) could feed a later run:
    // swap the cached file, or swap it and rewrite the entry's digest to match.
    for (what, forge_entry) in [("file swapped", false), ("file and entry rewritten", true)] {
        std::fs::write(&file, planted).unwrap();
        if forge_entry {
            let forged = entry_json.replace(&digest(&genuine), &digest(planted));
            assert_ne!(forged, entry_json);
            std::fs::write(entry.join("entry.json"), forged).unwrap();
        }
        let again = run(dir.path(), &branches(true, "x"), &[]);
        assert_eq!(again.code, 0, "{what}: {}", again.stderr);
        assert!(
            executed(dir.path()).contains(&"a".to_string()),
            "{what}: a runs again"
        );
        assert_eq!(again.dataset("a2_out").trim(), r#"{"v": "x"}"#, "{what}");
        for name in ["a_out", "a2_out"] {
            assert!(!again.dataset(name).contains("\"P\""), "{what}: {name}");
        }
    }
    // The genuine entry is stored again and reused by the next run.
    let last = run(dir.path(), &branches(true, "x"), &[]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    assert!(executed(dir.path()).is_empty());
    assert_eq!(last.status("a"), "cached");
}

#[test]
fn a_datasets_directory_swapped_for_a_symlink_mid_run_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("a_out.jsonl"), "IMPORTANT\n").unwrap();
    // `first` (never cached) swaps this run's `datasets/` for a symlink to `victim/` when
    // armed; `a`, started after it (one at a time), is then a cache hit whose copy must not
    // go through the symlink.
    let recipe = r#"
version: "1.0"
name: swap
concurrency: 1
state: { cache_intermediate: true }
nodes:
  - id: first
    cache: false
    run: "if [ -f armed ]; then d=state/runs/$SECFLOW_RUN_ID/datasets; mv $d $d.real && ln -s $PWD/victim $d; fi"
  - id: a
    run: "echo a >> executed.log; echo '{\"v\": 1}' > {{ outputs.a_out }}"
    outputs: [a_out]
"#;
    let first = run(dir.path(), recipe, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    executed(dir.path());
    std::fs::write(dir.path().join("armed"), "").unwrap();
    let swapped = run(dir.path(), recipe, &[]);
    assert_ne!(
        swapped.code, 0,
        "the run cannot keep its datasets: {}",
        swapped.stderr
    );
    assert!(
        swapped.stderr.contains("cannot reuse its cache entry"),
        "{}",
        swapped.stderr
    );
    assert_eq!(
        std::fs::read_to_string(victim.join("a_out.jsonl")).unwrap(),
        "IMPORTANT\n",
        "{}",
        swapped.stderr
    );
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 1);
    // The signed entry survives a failure on the destination's side.
    std::fs::remove_file(dir.path().join("armed")).unwrap();
    executed(dir.path());
    let after = run(dir.path(), recipe, &[]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    assert_eq!(
        after.status("a"),
        "cached",
        "{}\n---\n{}",
        swapped.stderr,
        after.stderr
    );
}
