//! Real run.json files (succeeded, failed, cancelled) validate against the published
//! `secflow schema --record run`, checked by an independent validator (check-jsonschema).
#![allow(unsafe_code)] // libc::kill and a counting allocator in tests

use crate::support::{BIN, command, finish, run, wait_for_file};

#[test]
fn run_json_files_validate_against_the_published_schema() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run(
        dir.path(),
        "version: \"1.0\"\nname: ok\nnodes:\n  - id: a\n    run: \"echo '{}' > {{ outputs.findings }}\"\n    outputs: [findings]\n",
        &[],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let failed = run(
        dir.path(),
        "version: \"1.0\"\nname: bad\nnodes:\n  - id: a\n    run: \"exit 2\"\n    retry: { max_attempts: 2, base_delay: 0 }\n  - id: b\n    run: \"true\"\n    depends_on: [a]\n",
        &[],
    );
    assert_eq!(failed.code, 1);
    let child = command(
        dir.path(),
        "version: \"1.0\"\nname: c\nnodes:\n  - id: a\n    run: \"echo up > up; sleep 30\"\n",
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    assert!(wait_for_file(&dir.path().join("up"), 20));
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let cancelled = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(cancelled.code, 130);

    let schema = std::process::Command::new(BIN)
        .args(["schema", "--record", "run"])
        .output()
        .unwrap();
    assert!(schema.status.success());
    let schema_path = dir.path().join("run.schema.json");
    std::fs::write(&schema_path, &schema.stdout).unwrap();
    // Fan-out: instance records (`template`, `index`, `item`, a cut item's `item_sha256`,
    // `matrix`).
    let long = "x".repeat(1500);
    let fanned = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: fan\nnodes:\n  - id: a\n    foreach: [one, {long}]\n    run: \"true {{{{ item }}}}\"\n  - id: m\n    matrix: {{ os: [l, m] }}\n    run: \"true {{{{ matrix.os }}}}\"\n"
        ),
        &[],
    );
    assert_eq!(fanned.code, 0, "{}", fanned.stderr);
    let cut = fanned.node("a@1");
    assert_eq!(cut["item"].as_str().unwrap().len(), 1024);
    assert_eq!(cut["item_sha256"].as_str().unwrap().len(), 64);
    let files = [&ok, &failed, &cancelled, &fanned].map(|r| r.run_dir.join("run.json"));
    // `.ci/install.sh` exports where it installed the tool; else it must be on PATH.
    let tool = std::env::var_os("CHECK_JSONSCHEMA").unwrap_or_else(|| "check-jsonschema".into());
    let check = std::process::Command::new(tool)
        .arg("--schemafile")
        .arg(&schema_path)
        .args(&files)
        .output()
        .expect("check-jsonschema is needed for this test: pip install check-jsonschema");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
