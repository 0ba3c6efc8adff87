//! `include:` at run time (SPEC §9): merged nodes, vars and env run; `recipe_sha256` covers
//! every file; an include outside the recipe's directory is shown by `--dry-run`; `x-` keys
//! and YAML merge keys.

use std::process::Command;

use crate::support::{BIN, run};

const RECIPE: &str = r#"
version: "1.0"
name: with-includes
x-scan: &scan
  timeout: 30s
  env: { DEPTH: shallow }
include: [lib/discover.yaml, ../outside.yaml]
vars: { target: main.example }
nodes:
  - id: scan
    <<: *scan
    run: "sed \"s/$/ $DEPTH $TAG/\" {{ inputs.hosts }} > {{ outputs.findings }}"
    inputs: [hosts]
    outputs: [findings]
"#;

fn layout() -> (tempfile::TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("wf");
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    // The included file's var is overridden by the including recipe's.
    std::fs::write(
        dir.join("lib/discover.yaml"),
        "vars: { target: lib.example }\ninclude: [common.yaml]\nnodes:\n  - id: discover\n    run: \"echo {{ vars.target }} > {{ outputs.hosts }}\"\n    outputs: [hosts]\n",
    )
    .unwrap();
    // Reached twice (from lib/discover.yaml and ../outside.yaml): merged once.
    // Its node would be a duplicate id if the file were merged twice.
    std::fs::write(
        dir.join("lib/common.yaml"),
        "env: { TAG: common }\nnodes:\n  - id: common_node\n    run: \"true\"\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("outside.yaml"),
        "include: [wf/lib/common.yaml]\nnodes:\n  - id: tidy\n    trigger: all_done\n    depends_on: [scan]\n    run: \"true\"\n",
    )
    .unwrap();
    (root, dir)
}

#[test]
fn included_nodes_vars_and_env_run() {
    let (_root, dir) = layout();
    let r = run(&dir, RECIPE, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.dataset("findings"), "main.example shallow common\n");
    assert_eq!(r.status("tidy"), "succeeded");
    assert_eq!(r.status("common_node"), "succeeded");
    // The hash covers the included files: editing one changes it.
    let first = r.record["workflow"]["recipe_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let own = sha256_hex(&std::fs::read(dir.join("recipe.yaml")).unwrap());
    assert_ne!(first, own);
    std::fs::write(
        dir.join("lib/common.yaml"),
        "env: { TAG: edited }\nnodes:\n  - id: common_node\n    run: \"true\"\n",
    )
    .unwrap();
    let r = run(&dir, RECIPE, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.dataset("findings"), "main.example shallow edited\n");
    assert_ne!(
        r.record["workflow"]["recipe_sha256"].as_str().unwrap(),
        first
    );
}

#[test]
fn dry_run_shows_an_include_outside_the_recipes_tree() {
    let (_root, dir) = layout();
    std::fs::write(dir.join("recipe.yaml"), RECIPE).unwrap();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args(["run-workflow", "recipe.yaml", "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("include: lib/discover.yaml\n"), "{stdout}");
    assert!(
        stdout.contains("include: ../outside.yaml (outside the recipe's directory)"),
        "{stdout}"
    );
    assert!(stdout.contains("trigger: all_done"), "{stdout}");
}

#[test]
fn a_diagnostic_points_into_the_included_file() {
    let (_root, dir) = layout();
    std::fs::write(
        dir.join("lib/discover.yaml"),
        "nodes:\n  - id: discover\n    run: \"echo {{ vars.nope }} > {{ outputs.hosts }}\"\n    outputs: [hosts]\n",
    )
    .unwrap();
    let r = run(&dir, RECIPE, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("lib/discover.yaml:3:16: error[unknown-template-ref]"),
        "{}",
        r.stderr
    );
    // The quoted line is the included file's.
    assert!(
        r.stderr.contains(" 3 |     run: \"echo {{ vars.nope }}"),
        "{}",
        r.stderr
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    secflow::recipe::hex(&<sha2::Sha256 as sha2::Digest>::digest(bytes))
}

/// Attack: a recipe sent for review includes `/proc/self/environ` (or a symlink to it); it
/// is a "regular file", and its YAML error quoted the environment — a CI job's secrets — in
/// the diagnostic `validate` prints. Kernel pseudo-files are refused without being read.
#[test]
fn an_include_of_proc_self_environ_never_quotes_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", dir.path().join("env.yaml")).unwrap();
    for target in ["/proc/self/environ", "env.yaml"] {
        let recipe = format!(
            "version: \"1.0\"\nname: leak\ninclude: [{target}]\nnodes:\n  - id: a\n    run: \"true\"\n"
        );
        std::fs::write(dir.path().join("r.yaml"), recipe).unwrap();
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .args(["validate-recipe", "r.yaml"])
            .env("CI_DEPLOY_TOKEN", "ci-secret-value-42")
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{target}: {all}");
        assert!(!all.contains("ci-secret-value-42"), "{target}: {all}");
        assert!(all.contains("pseudo-file"), "{target}: {all}");
    }
}

/// Attack: a recipe sent for review includes `~/.aws/credentials`, an env file or a YAML
/// file that is not a recipe. Its parse error named the place and quoted the line — the
/// key. A file that did not parse as a recipe is located, never quoted, in every format
/// and by `run-workflow` alike; a file that parsed as a recipe is still quoted.
#[test]
fn an_include_of_a_file_that_is_not_a_recipe_is_located_but_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "credentials",
            "[default]\naws_secret_access_key = AKIAhostile-one\n",
        ),
        ("app.env", "TOKEN=hostile-two\n"),
        ("values.yaml", "vars: \"hostile-three\"\n"),
        (
            "broken.yaml",
            "nodes:\n  - id: b\n    command: hostile-four\n",
        ),
        ("syntax.yaml", "nodes: [\n  {id: x, run: hostile-five\n"),
        // Parse as YAML mappings, then fail as recipes (unknown key, version).
        (
            "secrets.yml",
            "password: hostile-six\ntoken: hostile-seven\n",
        ),
        ("rails.yml", "x-a: 1\nsecret_key_base: hostile-eight\n"),
        ("ver.yml", "version: hostile-nine\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
        let recipe = format!(
            "version: \"1.0\"\nname: leak\ninclude: [{name}]\nnodes:\n  - id: a\n    run: \"true\"\n"
        );
        std::fs::write(dir.path().join("r.yaml"), recipe).unwrap();
        for args in [
            &["validate-recipe", "r.yaml"][..],
            &["validate-recipe", "r.yaml", "--format", "json"],
            &["run-workflow", "r.yaml", "--state-dir", "s"],
        ] {
            let out = Command::new(BIN)
                .current_dir(dir.path())
                .args(args)
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {all}");
            assert!(!all.contains("hostile"), "{name} {args:?}: {all}");
            assert!(all.contains(name), "{name} {args:?}: {all}");
        }
    }
}
