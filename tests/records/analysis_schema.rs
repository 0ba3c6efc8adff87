//! `secflow schema --record analysis` describes what `performance-analysis --format json`
//! prints: real output of every fixture run, validated by check-jsonschema (an independent
//! JSON Schema implementation). check-jsonschema is found via `$CHECK_JSONSCHEMA`, `PATH`,
//! or `/opt/cjs/bin/check-jsonschema`; missing, the test fails with an install hint.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::TestRun;

fn check_jsonschema() -> PathBuf {
    if let Some(p) = std::env::var_os("CHECK_JSONSCHEMA") {
        return PathBuf::from(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("check-jsonschema");
            if p.is_file() {
                return p;
            }
        }
    }
    let opt = PathBuf::from("/opt/cjs/bin/check-jsonschema");
    assert!(
        opt.is_file(),
        "check-jsonschema not found: set CHECK_JSONSCHEMA, put it on PATH, or install it \
         with `python3 -m venv /opt/cjs && /opt/cjs/bin/pip install check-jsonschema` \
         (.ci/install-analysis.sh does this)"
    );
    opt
}

/// stdout of a command that must exit 0 (or 3: a regression found).
fn stdout_of(run: TestRun) -> String {
    let out = run.run();
    assert!(matches!(out.code, 0 | 3), "{}", out.stderr);
    out.stdout
}

#[test]
fn json_report_validates_against_the_published_schema() {
    let tool = check_jsonschema();
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("analysis.schema.json");
    std::fs::write(
        &schema,
        stdout_of(TestRun::cmd(["schema", "--record", "analysis"]).in_dir(dir.path())),
    )
    .unwrap();
    let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/runs");
    let runs = runs.to_str().unwrap();
    let cases: Vec<Vec<String>> = vec![
        vec![format!("{runs}/01JD0000000000000000000001")],
        vec![format!("{runs}/01JD0000000000000000000002")],
        vec![format!("{runs}/01JD0000000000000000000003")],
        (1..=3)
            .map(|k| format!("{runs}/01JD00000000000000000000A{k}"))
            .collect(),
    ];
    let mut files = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut args = vec!["performance-analysis", "--format", "json"];
        args.extend(case.iter().map(String::as_str));
        let report = dir.path().join(format!("report{i}.json"));
        std::fs::write(&report, stdout_of(TestRun::cmd(&args).in_dir(dir.path()))).unwrap();
        files.push(report);
    }
    let out = Command::new(&tool)
        .arg("--schemafile")
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "check-jsonschema rejected the report:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
