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
