//! [`RecordHealth`]: whether every record of a run could be written so far (SPEC §10
//! "Records fail closed").
//!
//! Every writer of a run-dir file (run.json, audit.jsonl, logs.jsonl, spans.jsonl, metrics,
//! node logs) reports its first write error here; the engine waits on it, stops scheduling
//! and terminates running attempts, and the run ends `failed` with `reason: records
//! incomplete`. The first failure is kept (it is what the user needs to see); later ones
//! are consequences and are not repeated.
//!
//! It also holds the run directory open by descriptor (when the run has one): record files
//! are then created beneath it with `O_NOFOLLOW` ([`crate::sys::dirfd`]), so a `runs/<id>`
//! swapped for a symlink mid-run is never written through (SPEC §10).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use crate::sys::dirfd::{Dir, Mode};

/// The `reason` a run stopped by a record write failure has in run.json.
pub const RECORDS_INCOMPLETE: &str = "records incomplete";

/// Shared by the engine and every record writer of one run.
#[derive(Debug, Default)]
pub struct RecordHealth {
    failure: OnceLock<String>,
    wake: tokio::sync::Notify,
    dir: Option<Dir>,
}

impl RecordHealth {
    /// For a run whose directory is held open as `dir`.
    pub fn with_dir(dir: Dir) -> Self {
        RecordHealth {
            dir: Some(dir),
            ..RecordHealth::default()
        }
    }

    /// Whether the run directory is held open by descriptor.
    pub fn has_dir(&self) -> bool {
        self.dir.is_some()
    }

    /// `(run dir, path relative to it)` when `path` is beneath the run directory held open.
    fn beneath<'a>(&self, path: &'a Path) -> Option<(&Dir, &'a Path)> {
        let dir = self.dir.as_ref()?;
        Some((dir, dir.relative(path)?))
    }

    /// Opens the record file `path` for writing: beneath the run directory's descriptor,
    /// never through a symlink, when `path` is in it; by path otherwise.
    pub fn open_file(&self, path: &Path, mode: Mode) -> io::Result<File> {
        if let Some((dir, rel)) = self.beneath(path) {
            return dir.open_file(rel, mode);
        }
        let mut o = std::fs::OpenOptions::new();
        match mode {
            Mode::Truncate => o.write(true).create(true).truncate(true),
            Mode::Append => o.append(true).create(true),
            Mode::CreateNew => o.append(true).create_new(true),
        };
        o.open(path)
    }

    /// Creates the directory `path` and its missing parents up to the run directory (all
    /// beneath its descriptor when `path` is in it).
    pub fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let Some((dir, rel)) = self.beneath(path) else {
            return std::fs::create_dir_all(path);
        };
        let mut sub = std::path::PathBuf::new();
        for part in rel.components() {
            sub.push(part);
            dir.create_dir(&sub)?;
        }
        Ok(())
    }

    /// Opens the regular file `path` for reading: beneath the run directory's descriptor,
    /// never through a symlink, when the directory is held (a path outside it is refused).
    pub fn open_read(&self, path: &Path) -> io::Result<File> {
        match (&self.dir, self.beneath(path)) {
            (_, Some((dir, rel))) => dir.open_read(rel),
            (Some(_), None) => Err(outside(path)),
            (None, None) => super::open::open_regular(path),
        }
    }

    /// Removes the file `path` (beneath the run directory's descriptor when the directory is
    /// held; a path outside it is refused); a missing one is no error.
    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        let r = match (&self.dir, self.beneath(path)) {
            (_, Some((dir, rel))) => dir.remove_file(rel),
            (Some(_), None) => return Err(outside(path)),
            (None, None) => std::fs::remove_file(path),
        };
        match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Renames `from` to `to` (beneath the run directory's descriptor when both are in it).
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match (self.beneath(from), self.beneath(to)) {
            (Some((dir, a)), Some((_, b))) => dir.rename(a, b),
            _ => std::fs::rename(from, to),
        }
    }

    /// Writes `path` atomically: `write` fills a temporary file beside it, which is renamed
    /// over `path`; with `durable`, the file and then the directory are fsynced. A failed
    /// write leaves no temporary file.
    pub fn write_atomic(
        &self,
        path: &Path,
        durable: bool,
        write: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let result = (|| {
            let mut file = self.open_file(&tmp, Mode::Truncate)?;
            write(&mut file)?;
            if durable {
                file.sync_all()?;
            }
            self.rename(&tmp, path)?;
            if durable {
                match self.beneath(path) {
                    Some((dir, _)) => dir.sync()?,
                    None => {
                        if let Some(parent) = path.parent() {
                            File::open(parent)?.sync_all()?;
                        }
                    }
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = match self.beneath(&tmp) {
                Some((dir, rel)) => dir.remove_file(rel),
                None => std::fs::remove_file(&tmp),
            };
        }
        result
    }

    /// A record could not be written: `what` names the file and the error. Only the first
    /// report is kept; it wakes whoever waits in [`RecordHealth::failed`].
    pub fn fail(&self, what: impl Into<String>) {
        if self.failure.set(what.into()).is_ok() {
            self.wake.notify_one();
        }
    }

    /// The first failure reported, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    pub fn is_failed(&self) -> bool {
        self.failure.get().is_some()
    }

    /// Resolves once a failure has been reported (at once if one was).
    pub async fn failed(&self) {
        while !self.is_failed() {
            self.wake.notified().await;
        }
    }
}

/// The error for a path outside the run directory handed to a method that works beneath it.
fn outside(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not in the run directory", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failure_is_kept_and_wakes_the_waiter() {
        let h = std::sync::Arc::new(RecordHealth::default());
        assert!(!h.is_failed());
        let waiter = std::sync::Arc::clone(&h);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let wait = tokio::spawn(async move { waiter.failed().await });
            tokio::task::yield_now().await;
            h.fail("cannot write a: full");
            h.fail("cannot write b: full");
            wait.await.unwrap();
            assert_eq!(h.failure(), Some("cannot write a: full"));
        });
    }

    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let h = RecordHealth::with_dir(Dir::open(&run).unwrap());
        let path = run.join("run.json");
        let e = h
            .write_atomic(&path, true, |_| Err(io::Error::other("disk full")))
            .unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        assert_eq!(std::fs::read_dir(&run).unwrap().count(), 0);
        h.write_atomic(&path, true, |f| {
            use std::io::Write as _;
            f.write_all(b"{}")
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(&run).unwrap().count(), 1);
    }
}
