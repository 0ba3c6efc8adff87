//! The generated files in `completions/` and `man/` are what the current binary generates.
//!
//! Both come from the one clap definition in `src/cli/mod.rs`, so any new flag or command
//! makes them stale and fails these tests; `UPDATE_EXPECT=1 cargo test --test completions`
//! regenerates them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support;
use crate::support::{check_expected, output, repo_root, secflow, text};
use clap::CommandFactory;

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

#[test]
fn man_pages_are_fresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    clap_mangen::generate_to(secflow::cli::Cli::command(), dir.path()).expect("render man pages");
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
    problems.extend(leftovers(Path::new("man"), generated));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
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
