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
    #[error("no run `{arg}` under {}", .runs_dir.display())]
    NotFound { arg: String, runs_dir: PathBuf },
    #[error("run prefix `{arg}` is ambiguous; it matches: {}", .matches.join(", "))]
    Ambiguous { arg: String, matches: Vec<String> },
    #[error("no runs recorded under {}", .runs_dir.display())]
    NoRuns { runs_dir: PathBuf },
    #[error("{} is not a run directory", .0.display())]
    NotADirectory(PathBuf),
}

/// The state directory: `--state-dir`, else `SECFLOW_HOME`, else `./.secflow`.
pub fn state_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match std::env::var_os("SECFLOW_HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home),
        _ => PathBuf::from(".secflow"),
    }
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

/// `started_at` of a run's `run.json`, if readable (RFC 3339 UTC strings sort by time).
fn started_at(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("started_at")?.as_str().map(str::to_string)
}

/// Resolves `arg` to a run directory.
pub fn resolve_run(state_dir: &Path, arg: &str) -> Result<PathBuf, ResolveError> {
    let runs_dir = state_dir.join(RUNS_DIR);
    let ids = run_ids(state_dir);
    if !arg.is_empty() && !arg.contains('/') {
        if ids.iter().any(|id| id == arg) {
            return Ok(runs_dir.join(arg));
        }
        let matches: Vec<String> = ids
            .iter()
            .filter(|id| id.starts_with(arg))
            .cloned()
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(runs_dir.join(&matches[0])),
            _ => {
                return Err(ResolveError::Ambiguous {
                    arg: arg.to_string(),
                    matches,
                });
            }
        }
        if arg == "last" {
            // Newest by start time; ids (ULIDs) break ties and stand in for a missing run.json.
            return ids
                .iter()
                .max_by_key(|id| (started_at(&runs_dir.join(id)), (*id).clone()))
                .map(|id| runs_dir.join(id))
                .ok_or(ResolveError::NoRuns { runs_dir });
        }
    }
    if arg.contains('/') {
        let path = PathBuf::from(arg);
        return if path.is_dir() {
            Ok(path)
        } else {
            Err(ResolveError::NotADirectory(path))
        };
    }
    Err(ResolveError::NotFound {
        arg: arg.to_string(),
        runs_dir,
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
                std::fs::write(
                    runs.join(id).join("run.json"),
                    format!(r#"{{"started_at":"{started}"}}"#),
                )
                .unwrap();
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
        let path = runs.join("01B").display().to_string();
        assert_eq!(r(&path).unwrap(), runs.join("01B"));
        assert!(r("/nonexistent/x").is_err());
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            resolve_run(empty.path(), "last"),
            Err(ResolveError::NoRuns { .. })
        ));
    }
}
