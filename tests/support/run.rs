//! [`TestRun`]: the one way the tests start the built `secflow` binary.
//!
//! ```ignore
//! let r = TestRun::new(RECIPE).env("K", "v").arg("--concurrency").arg("2").run();
//! assert_eq!(r.code, 0, "{}", r.stderr);
//! let out = TestRun::cmd(["runs", "list"]).in_dir(dir).output();
//! ```
//!
//! Every command starts from the same hermetic environment: `NO_COLOR=1`, and none of the
//! caller's `SECFLOW_*` / `OTEL_*` / `TRACEPARENT` settings (a test sets what it needs).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_secflow");

/// Whether a variable of the caller's environment could change what a test sees: every
/// `SECFLOW_*` and `OTEL_*` (the per-signal OTLP variables included) and `TRACEPARENT`.
fn scrubbed(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("SECFLOW_") || name.starts_with("OTEL_") || name == "TRACEPARENT"
}

/// The base command: the built binary, run from the repository root (so relative paths and
/// the paths printed in diagnostics are stable), in the hermetic environment above.
pub fn secflow() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(super::repo_root());
    hermetic(&mut cmd);
    cmd
}

/// Removes the variables above from `cmd`'s environment and sets `NO_COLOR=1`.
pub fn hermetic(cmd: &mut Command) -> &mut Command {
    for (var, _) in std::env::vars_os().filter(|(var, _)| scrubbed(var)) {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
}

/// One `secflow` invocation, built step by step and run once.
pub struct TestRun {
    cmd: Command,
    args: Vec<OsString>,
    /// Where the command runs; for [`TestRun::new`] also where the recipe is written.
    dir: Option<PathBuf>,
    tmp: Option<tempfile::TempDir>,
    recipe: Option<String>,
    /// `--state-dir`, relative to `dir` (the run's directory is found under it).
    state: Option<PathBuf>,
}

impl TestRun {
    /// `secflow run-workflow recipe.yaml --state-dir state --format json`, with `recipe`
    /// written to `recipe.yaml` in a fresh temporary directory (or [`TestRun::in_dir`]).
    /// Retry jitter is 0 so retry timings are exact.
    pub fn new(recipe: &str) -> TestRun {
        let mut run = TestRun::cmd(["run-workflow", "recipe.yaml"]);
        run.recipe = Some(recipe.to_string());
        run.state = Some(PathBuf::from("state"));
        run.cmd.env("SECFLOW_RETRY_JITTER", "0");
        run
    }

    /// Any `secflow` command line, run from the repository root (or [`TestRun::in_dir`]).
    pub fn cmd<I, S>(args: I) -> TestRun
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        TestRun {
            cmd: secflow(),
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            dir: None,
            tmp: None,
            recipe: None,
            state: None,
        }
    }

    /// Runs in `dir` (kept by the caller) instead of a fresh temporary directory.
    pub fn in_dir(mut self, dir: &Path) -> TestRun {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// A recipe run uses the default state directory (`./.secflow`), not `--state-dir state`.
    pub fn default_state(mut self) -> TestRun {
        self.state = None;
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> TestRun {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> TestRun
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> TestRun {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> TestRun
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    /// Sets `key` to `value` when there is one, else removes it.
    pub fn env_opt(self, key: &str, value: Option<&str>) -> TestRun {
        match value {
            Some(value) => self.env(key, value),
            None => self.env_remove(key),
        }
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> TestRun {
        self.cmd.env_remove(key);
        self
    }

    /// The directory the command runs in (created now when it is a fresh temporary one).
    pub fn dir(&mut self) -> PathBuf {
        if let Some(dir) = &self.dir {
            return dir.clone();
        }
        if self.recipe.is_none() {
            return super::repo_root();
        }
        let tmp = self
            .tmp
            .get_or_insert_with(|| tempfile::tempdir().expect("temporary directory"));
        tmp.path().to_path_buf()
    }

    /// The finished `Command`, for a test that spawns it (to signal it, feed stdin, …). The
    /// temporary directory, if any, lives as long as the returned guard.
    pub fn command(mut self) -> (Command, Option<tempfile::TempDir>) {
        self.prepare();
        (self.cmd, self.tmp)
    }

    fn prepare(&mut self) -> PathBuf {
        let dir = self.dir();
        if let Some(recipe) = &self.recipe {
            std::fs::write(dir.join("recipe.yaml"), recipe)
                .unwrap_or_else(|e| panic!("write {}/recipe.yaml: {e}", dir.display()));
        }
        let mut args = std::mem::take(&mut self.args).into_iter();
        if self.recipe.is_some() {
            // run-workflow recipe.yaml [--state-dir state] --format json <the test's args>
            self.cmd.args(args.by_ref().take(2));
            if let Some(state) = &self.state {
                self.cmd.arg("--state-dir").arg(state);
            }
            self.cmd.args(["--format", "json"]);
        }
        self.cmd.args(args);
        self.cmd.current_dir(&dir);
        dir
    }

    /// Runs to completion: the raw output.
    pub fn output(mut self) -> Output {
        self.prepare();
        let cmd = &mut self.cmd;
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
    }

    /// Runs to completion: exit code, stdout, stderr, run.json (when stdout is JSON) and the
    /// run directory under the state directory.
    pub fn run(mut self) -> Run {
        let dir = self.prepare();
        let out = self
            .cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
        let state = dir.join(self.state.as_deref().unwrap_or(Path::new(".secflow")));
        let mut run = finish_in(&state, out);
        run.dir = dir;
        run.tmp = self.tmp;
        run
    }
}

/// The outcome of one command.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout parsed as JSON — run.json for `run-workflow --format json` (Null otherwise).
    pub record: serde_json::Value,
    /// `<state>/runs/<run_id>` when `record` names a run (empty otherwise).
    pub run_dir: PathBuf,
    /// The directory the command ran in.
    pub dir: PathBuf,
    tmp: Option<tempfile::TempDir>,
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

/// Shorthand kept for the engine tests: `TestRun::new(recipe).in_dir(dir).args(args)`'s
/// command (state under `dir/state`), to spawn.
pub fn command(dir: &Path, recipe: &str, args: &[&str]) -> Command {
    TestRun::new(recipe).in_dir(dir).args(args).command().0
}

/// Shorthand kept for the engine tests: `TestRun::new(recipe).in_dir(dir).args(args).run()`.
pub fn run(dir: &Path, recipe: &str, args: &[&str]) -> Run {
    TestRun::new(recipe).in_dir(dir).args(args).run()
}

/// The [`Run`] of a command spawned from [`command`] in `dir` (state under `dir/state`).
pub fn finish(dir: &Path, out: Output) -> Run {
    let mut run = finish_in(&dir.join("state"), out);
    run.dir = dir.to_path_buf();
    run
}

fn finish_in(state: &Path, out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let record: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    let run_dir = match record["run_id"].as_str() {
        Some(id) => state.join("runs").join(id),
        None => PathBuf::new(),
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout,
        stderr,
        record,
        run_dir,
        dir: PathBuf::new(),
        tmp: None,
    }
}
