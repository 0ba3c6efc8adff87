//! Resolving a `RUN` argument to a run directory, the same way for every command (SPEC §4):
//! an exact run id under `<state-dir>/runs/`, else a unique id prefix (an ambiguous one is an
//! error listing the matches), else `last` (newest by start time), else — if it contains
//! `/` — a run directory path (a folder copied from another machine works).

use std::path::{Path, PathBuf};

/// Where runs live under the state directory.
pub const RUNS_DIR: &str = "runs";

/// Why a `RUN` argument names no single run.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no run matches `{arg}` under {}", .runs_dir.display())]
    NotFound { arg: String, runs_dir: PathBuf },
    #[error("run prefix `{arg}` is ambiguous; it matches: {}", .matches.join(", "))]
    Ambiguous { arg: String, matches: Vec<String> },
    #[error("no runs recorded under {}", .runs_dir.display())]
    NoRuns { runs_dir: PathBuf },
    #[error("{} is not a run directory (no run.json)", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The state directory: `--state-dir`, else `SECFLOW_HOME`, else `./.secflow`.
pub fn state_dir(flag: Option<&Path>) -> PathBuf {
    super::layout::state_dir(flag)
}

/// The ids of the runs under `<state_dir>/runs/` (directories not starting with `.`), sorted.
pub fn run_ids(state_dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(state_dir.join(RUNS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    ids.sort();
    ids
}

/// Resolves `arg` to a run directory (SPEC §4): an exact run id, else a unique id prefix (an
/// ambiguous one lists its matches), else `last` (newest by start time), else — if it
/// contains `/` — a run directory path (a folder copied from another machine works). Every
/// command resolves `RUN` through this one function.
pub fn resolve_run(state_dir: &Path, arg: &str) -> Result<PathBuf, ResolveError> {
    use super::history::{HistoryError, resolve_run as resolve};
    resolve(state_dir, arg).map_err(|e| match e {
        HistoryError::NotFound { arg, runs } => ResolveError::NotFound {
            arg,
            runs_dir: runs,
        },
        HistoryError::Ambiguous { arg, matches } => ResolveError::Ambiguous { arg, matches },
        HistoryError::NoRuns { runs } => ResolveError::NoRuns { runs_dir: runs },
        HistoryError::NotARunDir { path } => ResolveError::NotADirectory(path),
        HistoryError::Io { path, source } => ResolveError::Io { path, source },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_prefix_last_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join(RUNS_DIR);
        for (id, started) in [
            ("01AAA", "2026-01-02T00:00:00.000Z"),
            ("01AAB", "2026-01-01T00:00:00.000Z"),
            ("01B", ""),
        ] {
            std::fs::create_dir_all(runs.join(id)).unwrap();
            if !started.is_empty() {
                let record = serde_json::json!({
                    "run_id": id, "status": "succeeded", "exit_code": 0,
                    "workflow": {"name": "w", "recipe_path": "r.yaml", "recipe_sha256": ""},
                    "started_at": started, "ended_at": started, "duration_ms": 1,
                    "pid": 1, "host": "h", "nodes": [], "findings_count": 0,
                    "counts": {"succeeded": 0, "failed": 0, "skipped": 0, "cached": 0,
                               "cancelled": 0, "timed_out": 0},
                });
                std::fs::write(runs.join(id).join("run.json"), record.to_string()).unwrap();
            }
        }
        let r = |arg: &str| resolve_run(dir.path(), arg);
        assert_eq!(r("01B").unwrap(), runs.join("01B"));
        assert_eq!(r("01AAB").unwrap(), runs.join("01AAB"));
        assert_eq!(r("01B").unwrap(), runs.join("01B"));
        let e = r("01A").unwrap_err().to_string();
        assert!(e.contains("01AAA, 01AAB"), "{e}");
        assert_eq!(r("last").unwrap(), runs.join("01AAA"));
        assert!(matches!(r("zzz"), Err(ResolveError::NotFound { .. })));
        let path = runs.join("01AAB").display().to_string();
        assert_eq!(r(&path).unwrap(), runs.join("01AAB"));
        assert!(r("/nonexistent/x").is_err());
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            resolve_run(empty.path(), "last"),
            Err(ResolveError::NoRuns { .. })
        ));
    }
}
