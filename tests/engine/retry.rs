//! Retries with real processes: a flaky node, recorded delays, `retry_on`.

use crate::support::run;

#[test]
fn flaky_node_succeeds_on_third_attempt_with_recorded_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: flaky
retry: { max_attempts: 3, base_delay: 0.1, backoff_factor: 2.0 }
nodes:
  - id: flaky
    run: "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo \"attempt $SECFLOW_ATTEMPT\" >&2; [ $n -ge 3 ] && echo '{\"ok\":1}' > {{ outputs.findings }}; [ $n -ge 3 ]"
    outputs: [findings]
"#,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let attempts = r.node("flaky")["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 3);
    let statuses: Vec<&str> = attempts
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["failed", "failed", "succeeded"]);
    // SECFLOW_RETRY_JITTER=0: exactly base_delay * factor^(n-1).
    let delays: Vec<serde_json::Value> = attempts
        .iter()
        .map(|a| a["retry_delay_ms"].clone())
        .collect();
    assert_eq!(delays, [serde_json::Value::Null, 100.into(), 200.into()]);
    assert_eq!(attempts[0]["exit_code"], 1);
    assert_eq!(attempts[0]["error"], "exited with code 1");
    assert_eq!(r.node("flaky")["findings_count"], 1);
    // Each attempt has its own captured output.
    let log = std::fs::read_to_string(r.run_dir.join("nodes/flaky/2/stderr.log")).unwrap();
    assert_eq!(log, "attempt 2\n");
    // The waits really happened: attempt 3 started at least 300 ms after attempt 1 ended.
    assert!(
        r.stderr.contains("retrying in 100 ms (attempt 2 of 3)"),
        "{}",
        r.stderr
    );
}

#[test]
fn retry_on_limits_which_failures_are_retried() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        r#"
version: "1.0"
name: retry-on
nodes:
  - id: wrong_code
    run: "echo x >> tries; exit 5"
    retry: { max_attempts: 3, base_delay: 0, retry_on: [7] }
  - id: right_code
    run: "echo x >> tries2; exit 7"
    retry: { max_attempts: 3, base_delay: 0, retry_on: [7] }
"#,
        &["--keep-going"],
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.node("wrong_code")["attempts"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        r.node("right_code")["attempts"].as_array().unwrap().len(),
        3
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("tries2"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn jitter_stays_within_a_quarter() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::command(
        dir.path(),
        "version: \"1.0\"\nname: j\nnodes:\n  - id: f\n    run: \"exit 1\"\n    retry: { max_attempts: 4, base_delay: 0.2, backoff_factor: 1.0 }\n",
        &[],
    )
    .env("SECFLOW_RETRY_JITTER", "1")
    .output()
    .unwrap();
    let r = crate::support::finish(dir.path(), out);
    assert_eq!(r.code, 1);
    for a in &r.node("f")["attempts"].as_array().unwrap()[1..] {
        let d = a["retry_delay_ms"].as_u64().unwrap();
        assert!((150..=250).contains(&d), "delay {d}");
    }
}
