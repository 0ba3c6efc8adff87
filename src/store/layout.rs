//! The run directory's layout and how a `RUN` argument finds one.
//!
//! `<state-dir>/runs/<run-id>/` with `run.json`, `nodes/<id>/<attempt>/`, `datasets/`. The
//! state directory is `--state-dir`, else `$SECFLOW_HOME`, else `./.secflow`. Run ids are
//! ULIDs, so sorting them sorts runs by start time.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The default state directory, relative to where secflow runs.
pub const DEFAULT_STATE_DIR: &str = ".secflow";

/// `--state-dir`, else `$SECFLOW_HOME`, else `./.secflow`.
pub fn state_dir(flag: Option<&Path>) -> PathBuf {
    match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("SECFLOW_HOME")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from),
    }
}

/// `<state-dir>/runs`.
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// A new run id: a ULID, sortable by time.
pub fn new_run_id() -> String {
    ulid::Ulid::new().to_string()
}

/// Why a `RUN` argument names no run.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no run matches `{0}`")]
    NotFound(String),
    #[error("`{prefix}` is ambiguous; it matches: {}", matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `RUN`: an exact run id, else a unique id prefix, else `last` (newest), else a
/// path containing `/` to a run directory.
pub fn resolve_run(state_dir: &Path, arg: &str) -> Result<PathBuf, ResolveError> {
    let runs = runs_dir(state_dir);
    let mut ids: Vec<String> = match std::fs::read_dir(&runs) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .filter(|e| e.path().join("run.json").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(ResolveError::Io {
                path: runs.display().to_string(),
                source,
            });
        }
    };
    ids.sort();
    if ids.iter().any(|id| id == arg) {
        return Ok(runs.join(arg));
    }
    let matches: Vec<String> = ids
        .iter()
        .filter(|id| !arg.is_empty() && id.starts_with(arg))
        .cloned()
        .collect();
    match matches.len() {
        1 => return Ok(runs.join(&matches[0])),
        n if n > 1 => {
            return Err(ResolveError::Ambiguous {
                prefix: arg.to_string(),
                matches,
            });
        }
        _ => {}
    }
    if arg == "last" {
        return ids
            .last()
            .map(|id| runs.join(id))
            .ok_or_else(|| ResolveError::NotFound(arg.to_string()));
    }
    if arg.contains('/') && Path::new(arg).join("run.json").is_file() {
        return Ok(PathBuf::from(arg));
    }
    Err(ResolveError::NotFound(arg.to_string()))
}

/// RFC 3339 UTC with milliseconds and `Z`: `2026-11-23T12:00:00.000Z`.
pub fn rfc3339_ms(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&f).unwrap_or_default()
}

/// Milliseconds between two times (0 if `b` is before `a`).
pub fn ms_between(a: SystemTime, b: SystemTime) -> u64 {
    b.duration_since(a).map_or(0, |d| d.as_millis() as u64)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its whole length.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_exact_prefix_last_and_path() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["01AAA", "01AAB", "01BBB"] {
            let d = runs_dir(dir.path()).join(id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("run.json"), "{}").unwrap();
        }
        let r = |a: &str| resolve_run(dir.path(), a);
        assert!(r("01AAA").unwrap().ends_with("01AAA"));
        assert!(r("01B").unwrap().ends_with("01BBB"));
        assert!(matches!(r("01AA"), Err(ResolveError::Ambiguous { .. })));
        assert!(r("last").unwrap().ends_with("01BBB"));
        let path = runs_dir(dir.path()).join("01AAB");
        assert_eq!(r(path.to_str().unwrap()).unwrap(), path);
        assert!(matches!(r("zzz"), Err(ResolveError::NotFound(_))));
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        assert_eq!(rfc3339_ms(t), "1970-01-01T00:00:01.500Z");
    }
}
