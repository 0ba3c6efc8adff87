//! The one support module of the integration tests, shared by every test binary
//! (`tests/X/main.rs` includes it with `#[path = "../support/mod.rs"] pub mod support;`):
//!
//! - [`TestRun`] builds and runs one `secflow` command (a recipe's run, or any subcommand)
//!   and returns its exit code, stdout, stderr, run.json and run directory;
//! - [`plan_of`] and [`context`] give a real plan and a `RunContext` for tests that drive a
//!   sink with a synthetic event stream;
//! - expected-file ("snapshot") comparison with `UPDATE_EXPECT=1` to rewrite;
//! - `/proc` probes and polling for tests that kill things.
//!
//! `pub`, so that helpers a given binary does not call are not dead code. Every helper panics
//! with a readable message, so a failing test says what differed and how to accept the change.

mod expect;
mod fixture;
mod process;
mod run;

pub use expect::{assert_expected, check_expected, diff, repo_root, text, updating};
pub use fixture::{context, plan_of};
pub use process::{alive, group_members, wait_for_file};
pub use run::{BIN, Run, TestRun, command, finish, hermetic, run, secflow};

/// Runs `cmd` to completion and returns its output.
pub fn output(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}
