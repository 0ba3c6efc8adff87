//! `secflow schema` checked by the real `check-jsonschema` tool: the schema is valid draft
//! 2020-12, every recipe in `workflows/` passes it, and invalid recipes fail it.
//!
//! The tool is found through env `CHECK_JSONSCHEMA`, then `PATH`, then `/opt/cjs/bin`
//! (where `.ci/run` installs it). When it is missing these tests fail, in CI and locally
//! alike, with the command that installs it: a schema test that skips proves nothing.

use std::path::{Path, PathBuf};

use crate::support;
use crate::support::{output, secflow, text};

const INSTALL: &str = "python3 -m venv /opt/cjs && /opt/cjs/bin/pip install check-jsonschema \
                       (or `pipx install check-jsonschema`, or set CHECK_JSONSCHEMA=/path/to/it)";

/// The `check-jsonschema` executable, or a panic that says how to install it.
fn check_jsonschema() -> PathBuf {
    if let Some(path) = std::env::var_os("CHECK_JSONSCHEMA") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CHECK_JSONSCHEMA={} is not a file; install with: {INSTALL}",
            path.display()
        );
        return path;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = on_path
        .into_iter()
        .chain([PathBuf::from("/opt/cjs/bin")])
        .map(|dir| dir.join("check-jsonschema"))
        .find(|p| p.is_file());
    match found {
        Some(path) => path,
        None => {
            let where_ = if std::env::var_os("CI").is_some() {
                "CI must install it (.ci/run does)"
            } else {
                "this test needs it"
            };
            panic!("check-jsonschema not found ({where_}); install with: {INSTALL}")
        }
    }
}

/// Writes the recipe schema into `dir` and returns its path.
fn write_schema(dir: &Path) -> PathBuf {
    let out = output(secflow().arg("schema"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = dir.join("recipe.schema.json");
    std::fs::write(&path, &out.stdout).expect("write schema");
    path
}

/// Runs check-jsonschema on `files` (relative to the repository root).
fn validate(schema: &Path, files: &[String]) -> std::process::Output {
    let mut cmd = std::process::Command::new(check_jsonschema());
    cmd.current_dir(support::repo_root())
        .arg("--schemafile")
        .arg(schema)
        .args(files);
    output(&mut cmd)
}

fn workflows() -> Vec<String> {
    let mut list: Vec<String> = std::fs::read_dir(support::repo_root().join("workflows"))
        .expect("read workflows")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| {
            format!(
                "workflows/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    list.sort();
    list
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = write_schema(dir.path());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema).expect("read")).expect("schema is JSON");
    assert_eq!(
        json["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let out = output(
        std::process::Command::new(check_jsonschema())
            .arg("--check-metaschema")
            .arg(&schema),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn every_sample_workflow_passes_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = write_schema(dir.path());
    let files = workflows();
    assert!(
        files.len() >= 3,
        "expected the sample workflows, found {files:?}"
    );
    let out = validate(&schema, &files);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("ok -- validation done"));
}

#[test]
fn invalid_recipes_fail_the_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema = write_schema(dir.path());
    // What the schema can see: unknown fields, wrong types, missing fields, enum values,
    // ranges. (Cycles, templates and data flow need `validate-recipe`.)
    let cases = [
        ("unknown-field", "'depends-on' was unexpected"),
        ("wrong-type", "$.nodes[0].outputs"),
        ("missing-field", "'name' is a required property"),
        ("unknown-executor", "'kubernetes' is not one of"),
        ("retry-range", "101 is greater than the maximum of 100"),
        // An `outputs` entry is a name or `{ name, dir }`, nothing more.
        ("dir-output-entry", "$.nodes[0].outputs[0]"),
    ];
    // One run for all of them: the tool takes a second or two to start.
    let files: Vec<String> = cases
        .iter()
        .map(|(name, _)| format!("fixtures/invalid/{name}.yaml"))
        .collect();
    let out = validate(&schema, &files);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "should fail:\n{stdout}");
    for ((_, needle), file) in cases.iter().zip(&files) {
        assert!(
            stdout.contains(&format!("{file}::$")),
            "{file} not reported:\n{stdout}"
        );
        assert!(
            stdout.contains(needle),
            "{file}: expected `{needle}` in:\n{stdout}"
        );
    }
}

#[test]
fn a_reader_that_stops_early_is_no_error() {
    // `secflow schema | head -1`: the reader has gone when secflow writes. With the pipe's read
    // end closed before secflow starts, every write meets EPIPE; it used to panic (exit 101).
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = output(secflow().args(["schema", "--record", "run"]).stdout(writer));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}
