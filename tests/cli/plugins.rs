//! Plugins: the built-in simulated SecFlow tools run for real, manifests are found in the
//! SPEC's search order with a warning on override, and a plugin node's config is checked
//! against its manifest.

use std::path::Path;

use crate::support::TestRun;
use serde_json::Value;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[test]
fn the_sample_runs_end_to_end_with_the_simulated_tools_and_finds_things() {
    let dir = tempfile::tempdir().unwrap();
    let out = TestRun::cmd([
        "run-workflow",
        "--progress",
        "never",
        "--format",
        "json",
        &repo("workflows/sample-linear.yaml"),
    ])
    .in_dir(dir.path())
    .output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    let plugins: Vec<&str> = record["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["plugin_name"].as_str().unwrap())
        .collect();
    assert_eq!(plugins, ["ferox-stub", "nuclei-stub", "cve-stub"]);
    assert!(record["findings_count"].as_u64().unwrap() > 0);
    let run_dir = dir
        .path()
        .join(".secflow/runs")
        .join(record["run_id"].as_str().unwrap());
    let enriched = std::fs::read_to_string(run_dir.join("datasets/enriched.jsonl")).unwrap();
    let first: Value = serde_json::from_str(enriched.lines().next().unwrap()).unwrap();
    assert!(first["cve"].as_str().unwrap().starts_with("CVE-"));
    assert!(first["cvss"].is_number());
    // Deterministic: a second run finds exactly the same.
    let again = TestRun::cmd([
        "run-workflow",
        "--progress",
        "never",
        "--format",
        "json",
        &repo("workflows/sample-linear.yaml"),
    ])
    .in_dir(dir.path())
    .output();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    let run2 = dir
        .path()
        .join(".secflow/runs")
        .join(again["run_id"].as_str().unwrap());
    assert_eq!(
        enriched,
        std::fs::read_to_string(run2.join("datasets/enriched.jsonl")).unwrap()
    );
}

#[test]
fn a_flaky_simulated_tool_succeeds_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = "version: \"1.0\"\nname: flaky\nretry: { max_attempts: 5, base_delay: 0.01 }\nnodes:\n  - id: d\n    type: discovery.ferox\n    config: { failure_rate: 0.6, seed: 7 }\n    outputs: [urls]\n";
    std::fs::write(dir.path().join("r.yaml"), recipe).unwrap();
    let out = TestRun::cmd(["run", "--progress", "never", "--format", "json", "r.yaml"])
        .in_dir(dir.path())
        .output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    let attempts = record["nodes"][0]["attempts"].as_array().unwrap();
    assert!(
        attempts.len() > 1,
        "failure_rate 0.6 with seed 7 fails the first attempt"
    );
    assert_eq!(attempts.last().unwrap()["status"], "succeeded");
}

#[test]
fn a_manifest_beside_the_recipe_overrides_a_builtin_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("plugins/my-scan.yaml"),
        "name: my-scan\nversion: 2.0.0\ncategory: scan\nprovides: scan.nuclei\ncommand: [sh, -c, \"echo '{\\\"n\\\": 1}' > $SECFLOW_OUTPUT_FINDINGS\"]\nconfig:\n  level: { type: integer, default: 3 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("r.yaml"),
        "version: \"1.0\"\nname: custom\nnodes:\n  - id: s\n    type: scan.nuclei\n    config: { level: 5 }\n    outputs: [findings]\n",
    )
    .unwrap();
    let out = TestRun::cmd(["run", "--progress", "never", "--format", "json", "r.yaml"])
        .in_dir(dir.path())
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("overrides `nuclei-stub`"), "{stderr}");
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["nodes"][0]["plugin_name"], "my-scan");
    assert_eq!(record["findings_count"], 1);

    let list = TestRun::cmd(["plugins", "list", "--recipe", "r.yaml", "--format", "json"])
        .in_dir(dir.path())
        .output();
    let rows: Value = serde_json::from_slice(&list.stdout).unwrap();
    let scan = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "scan.nuclei")
        .unwrap();
    assert_eq!(scan["plugin"], "my-scan");
    assert!(
        scan["source"]
            .as_str()
            .unwrap()
            .ends_with("plugins/my-scan.yaml")
    );

    // The manifest's keys now govern: a SecFlow key of the built-in is unknown here.
    std::fs::write(
        dir.path().join("bad.yaml"),
        "version: \"1.0\"\nname: custom\nnodes:\n  - id: s\n    type: scan.nuclei\n    config: { templates: x }\n    outputs: [findings]\n",
    )
    .unwrap();
    let bad = TestRun::cmd(["validate", "bad.yaml"])
        .in_dir(dir.path())
        .output();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error[unknown-config-key]"));
}

#[test]
fn a_bad_manifest_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("plugins/bad.yaml"),
        "name: x\nversion: 1\nprovides: t.x\ncomand: [a]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("r.yaml"),
        "version: \"1.0\"\nname: n\nnodes:\n  - id: a\n    run: \"true\"\n",
    )
    .unwrap();
    let out = TestRun::cmd(["validate", "r.yaml"])
        .in_dir(dir.path())
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("plugins/bad.yaml:4:1: error[unknown-field]: unknown field `comand`"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `command`?"), "{stderr}");
}

/// Attack: a recipe sent for review ships a `plugins/` directory beside it whose "manifests"
/// are links to `/proc/self/environ` or to a credentials file, or an env file named `.yaml`.
/// Their parse errors quoted the first line — the CI job's secrets. A kernel pseudo-file is
/// refused unread; a file that does not parse as a manifest is located, never quoted.
#[test]
fn a_plugin_directory_never_quotes_a_file_that_is_not_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(dir.path().join("creds"), "TOKEN=hostile-env-file\n").unwrap();
    std::fs::write(
        dir.path().join("r.yaml"),
        "version: \"1.0\"\nname: n\nnodes:\n  - id: a\n    run: \"true\"\n",
    )
    .unwrap();
    type Make<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Make); 4] = [
        ("environ.yaml", &|p| {
            std::os::unix::fs::symlink("/proc/self/environ", p).unwrap()
        }),
        ("linked.yaml", &|p| {
            std::os::unix::fs::symlink("../creds", p).unwrap()
        }),
        ("app.yml", &|p| {
            std::fs::write(p, "API_KEY=hostile-dotenv\n").unwrap()
        }),
        ("vars.yaml", &|p| {
            std::fs::write(p, "password: hostile-yaml\n").unwrap()
        }),
    ];
    for (name, make) in cases {
        let path = plugins.join(name);
        make(&path);
        for args in [
            &["validate-recipe", "r.yaml"][..],
            &["validate-recipe", "r.yaml", "--format", "json"],
            &["run-workflow", "r.yaml", "--dry-run", "--state-dir", "s"],
        ] {
            let out = TestRun::cmd(args)
                .in_dir(dir.path())
                .env("CI_DEPLOY_TOKEN", "hostile-environment")
                .output();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {all}");
            assert!(!all.contains("hostile"), "{name} {args:?}: {all}");
            assert!(all.contains(name), "{name} {args:?}: {all}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
