//! Output capture with real processes: secrets masked (also split across reads), large
//! output streamed in bounded memory.

#[test]
fn secrets_are_masked_in_captured_output_even_split_across_reads() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: secret
secrets: [ENGINE_TEST_TOKEN]
nodes:
  - id: leak
    run: "echo \"token=$ENGINE_TEST_TOKEN\"; printf 'split=tok-'; sleep 0.3; printf '1234-abcd\n'; echo \"err $ENGINE_TEST_TOKEN\" >&2"
"#;
    let out = crate::support::command(dir.path(), recipe, &[])
        .env("ENGINE_TEST_TOKEN", "tok-1234-abcd")
        .output()
        .unwrap();
    let r = crate::support::finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let stdout = std::fs::read_to_string(r.run_dir.join("nodes/leak/1/stdout.log")).unwrap();
    assert_eq!(stdout, "token=[REDACTED]\nsplit=[REDACTED]\n");
    let stderr = std::fs::read_to_string(r.run_dir.join("nodes/leak/1/stderr.log")).unwrap();
    assert_eq!(stderr, "err [REDACTED]\n");
}

#[test]
fn large_output_streams_without_growing_secflow() {
    let dir = tempfile::tempdir().unwrap();
    // ~200 MB on stdout, with a declared secret so the masker is on the path too.
    let recipe = r#"
version: "1.0"
name: big
secrets: [ENGINE_TEST_TOKEN]
nodes:
  - id: loud
    run: "yes 'a line of output that is not secret at all' | head -c 200000000"
"#;
    let out = crate::support::command(dir.path(), recipe, &[])
        .env("ENGINE_TEST_TOKEN", "never-printed-secret")
        .output()
        .unwrap();
    let r = crate::support::finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let size = std::fs::metadata(r.run_dir.join("nodes/loud/1/stdout.log"))
        .unwrap()
        .len();
    assert_eq!(size, 200_000_000);
    let rss = r.record["self_usage"]["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss < 64 * 1024 * 1024, "secflow peak RSS {rss} bytes");
}

/// `--show-output always`: every line live, prefixed `[node-id] `, masked even when the
/// secret reaches the pipe in two writes.
#[test]
fn show_output_always_streams_prefixed_masked_lines() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: live
secrets: [ENGINE_TEST_TOKEN]
nodes:
  - id: leak
    run: "echo first; printf 'split=tok-'; sleep 0.3; printf '1234-abcd tail\n'; echo \"err $ENGINE_TEST_TOKEN\" >&2; printf 'no newline'"
  - id: other
    run: "echo 'from other'"
"#;
    let out = crate::support::command(dir.path(), recipe, &["--show-output", "always"])
        .env("ENGINE_TEST_TOKEN", "tok-1234-abcd")
        .output()
        .unwrap();
    let r = crate::support::finish(dir.path(), out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    for want in [
        "[leak] first",
        "[leak] split=[REDACTED] tail",
        "[leak] err [REDACTED]",
        "[leak] no newline",
        "[other] from other",
    ] {
        assert!(lines.contains(&want), "missing {want:?} in:\n{}", r.stderr);
    }
    assert!(!r.stderr.contains("1234-abcd"), "{}", r.stderr);
    assert!(!r.stderr.contains("tok-"), "{}", r.stderr);
}

/// `failure` (the default) shows a failed attempt's stderr and stdout tails; `never` none.
#[test]
fn show_output_failure_and_never() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: fails
nodes:
  - id: broken
    run: "echo 'out line'; echo 'err line' >&2; exit 4"
"#;
    let r = crate::support::run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("| err line"), "{}", r.stderr);
    assert!(r.stderr.contains("stdout: "), "{}", r.stderr);
    assert!(r.stderr.contains("| out line"), "{}", r.stderr);
    // Nothing is streamed live by default.
    assert!(!r.stderr.contains("[broken] "), "{}", r.stderr);
    let r = crate::support::run(dir.path(), recipe, &["--show-output", "never"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("err line"), "{}", r.stderr);
    assert!(!r.stderr.contains("out line"), "{}", r.stderr);
}

/// A failed fan-out instance (`scan@1`) shows its tails too: the path check took its `@`
/// for an edited record's hostile id and printed "not shown".
#[test]
fn show_output_failure_shows_a_failed_instances_tails() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: fails-fanned
nodes:
  - id: scan
    foreach: [a, b]
    run: "echo out {{ item }}; echo err {{ item }} >&2; exit 4"
"#;
    let r = crate::support::run(dir.path(), recipe, &["--keep-going"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("not shown"), "{}", r.stderr);
    for item in ["a", "b"] {
        assert!(r.stderr.contains(&format!("| err {item}")), "{}", r.stderr);
        assert!(r.stderr.contains(&format!("| out {item}")), "{}", r.stderr);
    }
}

/// `--log-format json`: stdout holds exactly the lines of logs.jsonl; with `--format json`
/// it is a usage error (exit 2).
#[test]
fn log_format_json_prints_the_log_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recipe.yaml"),
        "version: \"1.0\"\nname: logs\nnodes:\n  - id: a\n    run: \"echo hi\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::BIN)
        .current_dir(dir.path())
        .args([
            "run-workflow",
            "recipe.yaml",
            "--state-dir",
            "state",
            "--log-format",
            "json",
        ])
        .env_remove("SECFLOW_HOME")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("succeeded"), "no human lines: {stderr}");
    let runs = dir.path().join("state/runs");
    let run_dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let file = std::fs::read_to_string(run_dir.join("logs.jsonl")).unwrap();
    assert!(file.lines().count() >= 3, "{file}");
    assert_eq!(stdout, file);
    for line in stdout.lines() {
        let _: serde_json::Value = serde_json::from_str(line).unwrap();
    }
    let r = crate::support::run(
        dir.path(),
        "version: \"1.0\"\nname: x\nnodes: [{id: a, run: \"true\"}]\n",
        &["--log-format", "json"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--log-format json"), "{}", r.stderr);
}
