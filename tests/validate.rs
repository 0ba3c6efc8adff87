//! `secflow validate-recipe`: every fixture pinned by the exact text and exit code it gives.
//!
//! `fixtures/invalid/NAME.yaml` must exit 2, `fixtures/warnings/NAME.yaml` must exit 0; each
//! has `NAME.stderr` beside it holding the exact stderr. `NAME.args` (optional) replaces the
//! default command line `validate-recipe fixtures/DIR/NAME.yaml`, so that cases without a
//! recipe file of their own (a missing file, a directory, several files) fit the same scheme.
//! `UPDATE_EXPECT=1 cargo test --test validate` rewrites the expected files.

pub mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{check_expected, run, secflow, text};

/// One case: its name, command line, and expected exit code.
struct Case {
    dir: &'static str,
    name: String,
    args: Vec<String>,
    status: i32,
}

fn cases(dir: &'static str, status: i32) -> Vec<Case> {
    let root = common::repo_root().join(dir);
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&root).expect("read fixture directory") {
        let path = entry.expect("dir entry").path();
        let ext = path.extension().and_then(|e| e.to_str());
        if matches!(ext, Some("yaml" | "args"))
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.insert(stem.to_string());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let args_file = root.join(format!("{name}.args"));
            let args = match std::fs::read_to_string(&args_file) {
                Ok(line) => line.split_whitespace().map(String::from).collect(),
                Err(_) => vec!["validate-recipe".into(), format!("{dir}/{name}.yaml")],
            };
            Case {
                dir,
                name,
                args,
                status,
            }
        })
        .collect()
}

fn check_all(dir: &'static str, status: i32) {
    let cases = cases(dir, status);
    assert!(!cases.is_empty(), "no fixtures in {dir}");
    // An empty state directory: plugins a developer installed there must not change the text.
    let home = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for case in &cases {
        // unknown-template-ref.yaml names this variable to show an undeclared, unset env var.
        let out = run(secflow()
            .args(&case.args)
            .env("SECFLOW_HOME", home.path())
            .env_remove("SECFLOW_FIXTURE_UNSET_TOKEN"));
        let label = format!(
            "{}/{} (secflow {})",
            case.dir,
            case.name,
            case.args.join(" ")
        );
        if out.status.code() != Some(case.status) {
            failures.push(format!(
                "{label}: exit {:?}, expected {}\n{}",
                out.status.code(),
                case.status,
                text(&out.stderr)
            ));
        }
        if !out.stdout.is_empty() {
            failures.push(format!("{label}: unexpected stdout: {}", text(&out.stdout)));
        }
        let expected = PathBuf::from(case.dir).join(format!("{}.stderr", case.name));
        if let Some(problem) = check_expected(&expected, &text(&out.stderr)) {
            failures.push(format!("{label}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_invalid_fixture_gives_its_exact_diagnostics_and_exit_2() {
    check_all("fixtures/invalid", 2);
}

#[test]
fn warnings_alone_keep_exit_0() {
    check_all("fixtures/warnings", 0);
}

#[test]
fn every_expected_file_has_a_case() {
    for dir in ["fixtures/invalid", "fixtures/warnings"] {
        let root = common::repo_root().join(dir);
        for entry in std::fs::read_dir(&root).expect("read fixture directory") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "stderr") {
                let yaml = path.with_extension("yaml");
                let args = path.with_extension("args");
                assert!(
                    yaml.exists() || args.exists(),
                    "{} is left over: no {} or {}",
                    path.display(),
                    file_name(&yaml),
                    file_name(&args)
                );
            }
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn sample_workflows_are_valid() {
    let root = common::repo_root().join("workflows");
    let mut recipes: Vec<String> = std::fs::read_dir(&root)
        .expect("read workflows")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|p| format!("workflows/{}", file_name(&p)))
        .collect();
    recipes.sort();
    assert!(recipes.iter().any(|r| r == "workflows/sample-linear.yaml"));
    let out = run(secflow().arg("validate-recipe").args(&recipes));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let expected: String = recipes.iter().map(|r| format!("{r}: valid\n")).collect();
    assert_eq!(stderr, expected);
}

#[test]
fn alias_and_short_name_agree() {
    let long = run(secflow().args(["validate-recipe", "fixtures/invalid/cycle.yaml"]));
    let short = run(secflow().args(["validate", "fixtures/invalid/cycle.yaml"]));
    assert_eq!(long.status.code(), Some(2));
    assert_eq!(long.status.code(), short.status.code());
    assert_eq!(long.stderr, short.stderr);
}

#[test]
fn json_format_is_an_array_of_located_diagnostics() {
    let out = run(secflow().args([
        "validate-recipe",
        "--format",
        "json",
        "fixtures/invalid/many-errors.yaml",
        "fixtures/warnings/unused-output.yaml",
        "fixtures/invalid/empty.yaml",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.is_empty(), "json mode prints nothing on stderr");
    let stdout = text(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    let items = value.as_array().expect("an array");
    let keys: BTreeSet<&str> = [
        "file", "line", "column", "severity", "code", "message", "hint",
    ]
    .into_iter()
    .collect();
    for item in items {
        let object = item.as_object().expect("each item is an object");
        let have: BTreeSet<&str> = object.keys().map(String::as_str).collect();
        assert_eq!(have, keys, "{item}");
        assert!(item["line"].is_u64() && item["column"].is_u64());
        assert!(item["hint"].is_string() || item["hint"].is_null());
        assert!(matches!(
            item["severity"].as_str(),
            Some("error" | "warning")
        ));
    }
    let count = |file: &str, severity: &str| {
        items
            .iter()
            .filter(|i| i["file"] == file && i["severity"] == severity)
            .count()
    };
    assert_eq!(count("fixtures/invalid/many-errors.yaml", "error"), 13);
    assert_eq!(count("fixtures/warnings/unused-output.yaml", "warning"), 1);
    assert_eq!(count("fixtures/invalid/empty.yaml", "error"), 1);
    let cycle = items
        .iter()
        .find(|i| i["code"] == "cycle")
        .expect("the cycle is reported");
    assert_eq!(cycle["message"], "dependency cycle: c -> d -> c");
    assert_eq!(
        (cycle["line"].as_u64(), cycle["column"].as_u64()),
        (Some(17), Some(9))
    );
    common::assert_expected(Path::new("fixtures/json/validate.stdout"), &stdout);
}

#[test]
fn json_format_of_a_valid_recipe_is_an_empty_array() {
    let out = run(secflow().args([
        "validate",
        "--format",
        "json",
        "workflows/sample-linear.yaml",
    ]));
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value, serde_json::json!([]));
}

#[test]
fn a_file_over_the_default_size_limit_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.yaml");
    let file = std::fs::File::create(&big).expect("create");
    // Sparse: 2 MiB on paper, nothing on disk.
    file.set_len(2 * 1024 * 1024).expect("set_len");
    let out = run(secflow().arg("validate").arg(&big));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error[limit]: file is larger than the limit of 1048576 bytes (2097152 bytes or more)"
        ),
        "{stderr}"
    );
}

#[test]
fn no_file_is_a_usage_error() {
    let out = run(secflow().arg("validate-recipe"));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("<FILE>..."));
}

#[test]
fn ordinary_use_of_aliases_stays_within_the_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut recipe = String::from("version: \"1.0\"\nname: aliases\nvars: &common\n");
    for k in 0..20 {
        recipe.push_str(&format!("  K{k}: \"value {k}\"\n"));
    }
    recipe.push_str("nodes:\n");
    for n in 0..500 {
        recipe.push_str(&format!(
            "  - id: n{n}\n    run: \"echo {{{{ env.K7 }}}}\"\n    env: *common\n"
        ));
    }
    let path = dir.path().join("aliases.yaml");
    std::fs::write(&path, recipe).expect("write recipe");
    let out = run(secflow().arg("validate").arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_readme_recipe_example_is_valid() {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).expect("README");
    let start = readme.find("```yaml\n").expect("README has a yaml example") + "```yaml\n".len();
    let len = readme[start..].find("```").expect("the example is closed");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("readme-example.yaml");
    std::fs::write(&path, &readme[start..start + len]).expect("write example");
    let out = run(secflow()
        .arg("validate-recipe")
        .arg(&path)
        .env("SECFLOW_HOME", dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
