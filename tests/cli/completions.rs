//! The generated files in `completions/` and `man/` are what the current binary generates.
//!
//! Both come from the one clap definition in `src/cli/mod.rs`, so any new flag or command
//! makes them stale and fails these tests; `UPDATE_EXPECT=1 cargo test --test completions`
//! regenerates them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support;
use crate::support::{check_expected, output, repo_root, secflow, text};

/// Each shell and the file its completions live in (the name each shell looks for).
const SHELLS: [(&str, &str); 5] = [
    ("bash", "secflow.bash"),
    ("zsh", "_secflow"),
    ("fish", "secflow.fish"),
    ("powershell", "_secflow.ps1"),
    ("elvish", "secflow.elv"),
];

#[test]
fn completions_are_fresh() {
    let mut problems = Vec::new();
    for (shell, file) in SHELLS {
        let out = output(secflow().args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{shell}: no completions printed");
        let expected = PathBuf::from("completions").join(file);
        problems.extend(check_expected(&expected, &text(&out.stdout)));
    }
    problems.extend(leftovers(
        Path::new("completions"),
        SHELLS.iter().map(|(_, f)| f.to_string()).collect(),
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn completions_reject_an_unknown_shell() {
    let out = output(secflow().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("invalid value 'tcsh'"));
}

/// The whole command tree as man pages see it: every command built (each one's arguments
/// are deferred until it runs), clap's generated `help` commands hidden.
fn command_tree() -> clap::Command {
    fn hide_help(cmd: clap::Command) -> clap::Command {
        let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().into()).collect();
        names.into_iter().fold(cmd, |cmd, name| {
            cmd.mut_subcommand(name, |sub| match sub.get_name() {
                "help" => sub.hide(true),
                _ => hide_help(sub),
            })
        })
    }
    let mut cmd = <secflow::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    hide_help(cmd)
}

#[test]
fn man_pages_are_fresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    clap_mangen::generate_to(command_tree(), dir.path()).expect("render man pages");
    let mut generated = BTreeSet::new();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("read generated pages") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        let page = std::fs::read_to_string(&path).expect("read page");
        problems.extend(check_expected(&PathBuf::from("man").join(&name), &page));
        generated.insert(name);
    }
    assert!(generated.contains("secflow.1"), "{generated:?}");
    // Every visible command, nested ones included (`runs show`, `audit verify`), has its page.
    let mut pages = Vec::new();
    page_names(&command_tree(), "secflow", &mut pages);
    assert!(pages.len() > 20, "{pages:?}");
    for page in &pages {
        if !generated.contains(page) {
            problems.push(format!("no man page {page} generated"));
        }
    }
    for nested in [
        "secflow-runs-show.1",
        "secflow-audit-verify.1",
        "secflow-emit-log.1",
    ] {
        assert!(
            pages.iter().any(|p| p == nested),
            "{nested} missing from {pages:?}"
        );
    }
    problems.extend(leftovers(Path::new("man"), generated));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `NAME.1` for `cmd` and, recursively, `NAME-SUB.1` for each of its visible subcommands.
fn page_names(cmd: &clap::Command, name: &str, pages: &mut Vec<String>) {
    pages.push(format!("{name}.1"));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() != "help" {
            page_names(sub, &format!("{name}-{}", sub.get_name()), pages);
        }
    }
}

/// Files in `dir` that the generator no longer produces (removed with `UPDATE_EXPECT=1`).
fn leftovers(dir: &Path, expected: BTreeSet<String>) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(repo_root().join(dir)) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        if expected.contains(&name) {
            continue;
        }
        if support::updating() {
            std::fs::remove_file(&path).expect("remove stale file");
            eprintln!("removed {}", path.display());
        } else {
            problems.push(format!(
                "{}/{name} is no longer generated; remove it with `UPDATE_EXPECT=1 cargo test`",
                dir.display()
            ));
        }
    }
    problems
}

/// Candidates bash offers for `words` (the last one is being completed), through the script
/// `secflow completions bash` prints, with the built binary first on PATH.
fn bash_candidates(script: &Path, cwd: &Path, env: &[(&str, &str)], words: &[&str]) -> Vec<String> {
    let bin_dir = Path::new(support::BIN).parent().expect("binary directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let program = r#"
source "$0" || exit 90
complete -p secflow > /dev/null || exit 91
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMP_TYPE=9
COMPREPLY=()
_clap_complete_secflow secflow "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let mut cmd = std::process::Command::new("bash");
    support::hermetic(&mut cmd)
        .args(["--norc", "--noprofile", "-c", program])
        .arg(script)
        .args(words)
        .current_dir(cwd)
        .env("PATH", path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(&mut cmd);
    assert_eq!(out.status.code(), Some(0), "bash: {}", text(&out.stderr));
    let mut got: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.trim_end().to_string())
        // An empty word also offers the flags (clap's dynamic engine); the values are the point here.
        .filter(|l| !l.is_empty() && !l.starts_with('-'))
        .collect();
    got.sort();
    got
}

#[test]
fn bash_completes_run_ids_node_ids_and_workflow_names_from_the_state() {
    let home = tempfile::tempdir().expect("tempdir");
    let recipe = "version: \"1.0\"\nname: completed-wf\nnodes:\n  - id: alpha\n    run: \"true\"\n  - id: beta\n    run: \"true\"\n    depends_on: [alpha]\n";
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = support::TestRun::new(recipe)
            .in_dir(home.path())
            .default_state()
            .run();
        assert_eq!(r.code, 0, "{}", r.stderr);
        ids.push(r.record["run_id"].as_str().expect("run id").to_string());
    }
    let state = home.path().join(".secflow");
    let state = state.to_str().expect("utf-8 path");
    let script = home.path().join("secflow.bash");
    let out = output(secflow().args(["completions", "bash"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(&script, &out.stdout).expect("write script");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let mut runs: Vec<String> = ids.clone();
    runs.push("last".into());
    runs.sort();

    // The state dir: from --state-dir on the line, SECFLOW_HOME, else ./.secflow.
    let given = bash_candidates(
        &script,
        elsewhere.path(),
        &[],
        &["secflow", "logs", "--state-dir", state, ""],
    );
    assert_eq!(given, runs);
    let from_env = bash_candidates(
        &script,
        elsewhere.path(),
        &[("SECFLOW_HOME", state)],
        &["secflow", "runs", "show", ""],
    );
    assert_eq!(from_env, runs);
    let default = bash_candidates(
        &script,
        home.path(),
        &[],
        &["secflow", "audit", "verify", ""],
    );
    assert_eq!(default, runs);
    let none = bash_candidates(&script, elsewhere.path(), &[], &["secflow", "metrics", ""]);
    assert_eq!(none, ["last"], "no runs where there is no state dir");

    // A prefix narrows; node ids are the named run's; workflow names are the runs'.
    let prefix = &ids[1][..ids[1].len() - 2];
    let narrowed = bash_candidates(&script, home.path(), &[], &["secflow", "export", prefix]);
    assert!(
        narrowed.contains(&ids[1]) && !narrowed.contains(&"last".to_string()),
        "{narrowed:?}"
    );
    let nodes = bash_candidates(
        &script,
        home.path(),
        &[],
        &["secflow", "logs", &ids[0], "--node", ""],
    );
    assert_eq!(nodes, ["alpha", "beta"]);
    let workflows = bash_candidates(
        &script,
        home.path(),
        &[],
        &["secflow", "analyze", "--workflow", ""],
    );
    assert_eq!(workflows, ["completed-wf"]);
    // Subcommands still complete.
    let sub = bash_candidates(&script, home.path(), &[], &["secflow", "lo"]);
    assert_eq!(sub, ["logs"]);
}

/// `--node` of `performance-analysis` (and `logs`) offers a fan-out template's id as well as
/// its instances' (SPEC §9: `--node` accepts either).
#[test]
fn node_candidates_include_fan_out_templates() {
    let home = tempfile::tempdir().expect("tempdir");
    let recipe = "version: \"1.0\"\nname: fan-wf\nnodes:\n  - id: alpha\n    run: \"true\"\n  - id: scan\n    foreach: [a, b]\n    run: \"true\"\n    depends_on: [alpha]\n";
    let r = support::TestRun::new(recipe)
        .in_dir(home.path())
        .default_state()
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.record["run_id"].as_str().expect("run id").to_string();
    let script = home.path().join("secflow.bash");
    let out = output(secflow().args(["completions", "bash"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(&script, &out.stdout).expect("write script");
    for sub in ["performance-analysis", "logs"] {
        let nodes = bash_candidates(
            &script,
            home.path(),
            &[],
            &["secflow", sub, &id, "--node", ""],
        );
        assert_eq!(nodes, ["alpha", "scan", "scan@0", "scan@1"], "{sub}");
    }
}

/// Attack: bash inserts a completion candidate into the command line unquoted, so a recorded
/// workflow name (any string a recipe gives), a node id in a crafted run.json or a run
/// directory named `x;$(…)` (e.g. a `.secflow/` shipped in a cloned repository) would become
/// shell code on Enter. Only plain words are offered.
#[test]
fn bash_never_offers_candidates_holding_shell_metacharacters() {
    let home = tempfile::tempdir().expect("tempdir");
    let recipe = "version: \"1.0\"\nname: \"evil; touch PWNED $(id) *\"\nnodes:\n  - id: alpha\n    run: \"true\"\n";
    let r = support::TestRun::new(recipe)
        .in_dir(home.path())
        .default_state()
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.record["run_id"].as_str().expect("run id").to_string();
    let runs = home.path().join(".secflow/runs");
    let crafted = runs.join("x;$(touch PWNED2)");
    std::fs::create_dir(&crafted).expect("crafted run dir");
    let mut record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(runs.join(&id).join("run.json")).unwrap())
            .unwrap();
    record["nodes"][0]["node_id"] = "n; touch PWNED3 #".into();
    std::fs::write(runs.join(&id).join("run.json"), record.to_string()).unwrap();
    let script = home.path().join("secflow.bash");
    let out = output(secflow().args(["completions", "bash"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(&script, &out.stdout).expect("write script");

    let runs_offered = bash_candidates(&script, home.path(), &[], &["secflow", "logs", ""]);
    assert_eq!(runs_offered, [id.clone(), "last".to_string()]);
    let nodes = bash_candidates(
        &script,
        home.path(),
        &[],
        &["secflow", "logs", &id, "--node", ""],
    );
    assert!(nodes.is_empty(), "{nodes:?}");
    let workflows = bash_candidates(
        &script,
        home.path(),
        &[],
        &["secflow", "analyze", "--workflow", ""],
    );
    assert!(workflows.is_empty(), "{workflows:?}");
}
