//! Shared helpers for the engine's integration tests: write a recipe, run the real binary
//! with `--format json`, and read back run.json and the run directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_secflow");

/// The outcome of one `secflow run-workflow`.
pub struct Run {
    pub code: i32,
    pub stderr: String,
    /// run.json as printed on stdout (Null when none was printed).
    pub record: serde_json::Value,
    pub run_dir: PathBuf,
}

impl Run {
    pub fn node(&self, id: &str) -> &serde_json::Value {
        self.record["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["node_id"] == id))
            .unwrap_or_else(|| panic!("no node `{id}` in run.json:\n{}", self.record))
    }

    pub fn status(&self, id: &str) -> String {
        self.node(id)["status"].as_str().unwrap_or("").to_string()
    }

    pub fn dataset(&self, name: &str) -> String {
        std::fs::read_to_string(self.run_dir.join("datasets").join(format!("{name}.jsonl")))
            .unwrap_or_else(|e| panic!("dataset {name}: {e}"))
    }

    /// run.json as written to disk.
    pub fn written(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.run_dir.join("run.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// A command running secflow in `dir` with the state under `dir/state`.
pub fn command(dir: &Path, recipe: &str, args: &[&str]) -> Command {
    std::fs::write(dir.join("recipe.yaml"), recipe).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .args([
            "run-workflow",
            "recipe.yaml",
            "--state-dir",
            "state",
            "--format",
            "json",
        ])
        .args(args)
        .env_remove("SECFLOW_HOME")
        .env_remove("TRACEPARENT")
        .env("SECFLOW_RETRY_JITTER", "0");
    cmd
}

pub fn run(dir: &Path, recipe: &str, args: &[&str]) -> Run {
    let out = command(dir, recipe, args).output().unwrap();
    finish(dir, out)
}

pub fn finish(dir: &Path, out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let record: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    let run_dir = match record["run_id"].as_str() {
        Some(id) => dir.join("state").join("runs").join(id),
        None => PathBuf::new(),
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stderr,
        record,
        run_dir,
    }
}

/// Whether a live (non-zombie) process with this pid exists.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => state_of(&stat) != Some('Z'),
        Err(_) => false,
    }
}

/// Live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the `(comm)`: state ppid pgrp ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && fields[0] != "Z" {
            pids.push(pid);
        }
    }
    pids
}

fn state_of(stat: &str) -> Option<char> {
    stat.rsplit_once(')')
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|s| s.chars().next())
}

/// Waits (bounded) until `path` exists.
pub fn wait_for_file(path: &Path, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if path.exists() && std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}
