//! secflow: a command-line workflow runner with built-in observability.
//!
//! Data flows one way, each stage with its own type:
//! [`recipe`] (YAML with source spans) → [`plan`] (validated DAG) → engine → telemetry
//! sinks → store → analysis → report. [`cli`] wires the stages to commands.

#[cfg(not(target_os = "linux"))]
compile_error!(
    "secflow runs on Linux only: containment needs /proc, PR_SET_CHILD_SUBREAPER and signalfd \
     (see docs/security.md)"
);

pub mod analysis;
pub mod audit;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod escape;
pub mod event;
pub mod exit;
pub mod exporters;
pub mod fuzz_targets;
pub mod graph;
pub mod metrics;
pub mod plan;
pub mod recipe;
pub mod report;
pub mod serve;
pub mod sinks;
pub mod slurm;
pub mod store;
pub mod stub;
pub mod sys;
pub mod telemetry;

#[cfg(test)]
mod tests {
    /// The module layout of docs/architecture.md (no import cycle between the modules above,
    /// and every "never" kept), checked by `.ci/lint-imports` so that `cargo test` catches a
    /// stray import as `.ci/run` does.
    #[test]
    fn the_module_layout_keeps_its_nevers() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new("python3")
            .arg(root.join(".ci/lint-imports"))
            .output()
            .expect("python3 runs .ci/lint-imports");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
