//! The run directory's layout (a `RUN` argument is resolved by [`super::resolve`]).
//!
//! `<state-dir>/runs/<run-id>/` with `run.json`, `nodes/<id>/<attempt>/`, `datasets/`. The
//! state directory is `--state-dir`, else `$SECFLOW_HOME`, else `./.secflow`. Run ids are
//! ULIDs, so sorting them sorts runs by start time.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The default audit key's file name inside the state directory.
pub const KEY_FILE_NAME: &str = "audit.key";

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

/// Milliseconds between two times (0 if `b` is before `a`).
pub fn ms_between(a: SystemTime, b: SystemTime) -> u64 {
    b.duration_since(a).map_or(0, |d| d.as_millis() as u64)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced, then
/// renamed over `path`. Readers see the old content or the new, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// [`write_atomic`] with the content streamed by `write` into the temp file (which is then
/// synced and renamed over `path`), for content too big to hold in memory.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// This machine's host name.
pub fn host_name() -> String {
    crate::sys::misc::hostname().unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clock::rfc3339_ms;

    #[test]
    fn times_have_milliseconds() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_500);
        assert_eq!(rfc3339_ms(t), "1970-01-01T00:00:01.500Z");
    }
}
