//! [`LineFile`]: the one appending primitive for a run's JSON-lines record files (logs,
//! spans, audit, metrics).
//!
//! It opens the file beneath the run directory's descriptor (through
//! [`RecordHealth`], never through a symlink) or, without a run, by path; appends whole
//! lines; on a failed write cuts the file back to where its last whole line ended, reports
//! the error once to the run's [`RecordHealth`] (SPEC §10 "Records fail closed") and takes
//! no more; and syncs (the file, and once its directory entry) when asked. Batching, framing
//! and chaining stay with the callers.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::store::RecordHealth;
use crate::sys::dirfd::Mode;

/// An append-only file of whole lines.
pub struct LineFile {
    path: PathBuf,
    file: File,
    /// The file's length after its last whole line.
    end: u64,
    /// A write failed: the file was cut back and takes no more.
    failed: bool,
    dir_synced: bool,
    records: Option<Arc<RecordHealth>>,
}

impl LineFile {
    /// Opens `path` with `mode` (`Append` or `CreateNew`), creating its directory first,
    /// through `records` when the file is a run's record.
    pub fn create(path: &Path, mode: Mode, records: Option<Arc<RecordHealth>>) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            match &records {
                Some(r) => r.create_dir_all(dir)?,
                None => std::fs::create_dir_all(dir)?,
            }
        }
        Self::open(path, mode, records)
    }

    /// Opens `path` with `mode` in an existing directory, through `records` when the file
    /// is a run's record (beneath the run directory's descriptor, never through a symlink).
    pub fn open(path: &Path, mode: Mode, records: Option<Arc<RecordHealth>>) -> io::Result<Self> {
        let file = match &records {
            Some(r) => r.open_file(path, mode)?,
            // Without a run, `RecordHealth` opens by path.
            None => RecordHealth::default().open_file(path, mode)?,
        };
        let end = file.metadata()?.len();
        Ok(LineFile {
            path: path.to_path_buf(),
            file,
            end,
            failed: false,
            dir_synced: false,
            records,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length after its last whole line.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// A write failed; nothing more is appended.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Appends `lines` (whole lines) with one `write_all`. After a failure this and every
    /// later call return an error and write nothing.
    pub fn append(&mut self, lines: &[u8]) -> io::Result<()> {
        self.append_with(lines.len(), |w| w.write_all(lines))
    }

    /// Appends the lines `write` streams (they must end with `\n`) through a buffer of
    /// `buffer` bytes.
    pub fn append_with(
        &mut self,
        buffer: usize,
        write: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(format!(
                "{} takes no more lines after a failed write",
                self.path.display()
            )));
        }
        let mut w = BufWriter::with_capacity(buffer.max(1), &mut self.file);
        let written = write(&mut w).and_then(|()| w.flush());
        // Whatever is still buffered after a failure is part of the torn line: dropped.
        let _ = w.into_parts();
        match written.and_then(|()| self.file.metadata()) {
            Ok(meta) => {
                self.end = meta.len();
                Ok(())
            }
            Err(e) => {
                // A torn line must not be followed by more: cut back to the last whole one.
                let _ = self.file.set_len(self.end);
                Err(self.fail(e))
            }
        }
    }

    /// Syncs the file's data to the disk and, the first time with `dir`, its directory entry.
    pub fn sync(&mut self, dir: bool) -> io::Result<()> {
        let mut result = self.file.sync_data();
        if result.is_ok() && dir && !self.dir_synced {
            result = self
                .path
                .parent()
                .map_or(Ok(()), |d| File::open(d).and_then(|d| d.sync_all()));
            self.dir_synced = result.is_ok();
        }
        result.map_err(|e| self.fail(e))
    }

    /// Marks the file failed and reports the error (once) to the run.
    fn fail(&mut self, e: io::Error) -> io::Error {
        if !self.failed
            && let Some(r) = &self.records
        {
            r.fail(format!("cannot write {}: {e}", self.path.display()));
        }
        self.failed = true;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_fails_half_way_is_cut_off_and_nothing_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.jsonl");
        std::fs::write(&path, "{\"before\":1}\n").unwrap();
        let mut f = LineFile::open(&path, Mode::Append, None).unwrap();
        f.append(b"{\"a\":1}\n").unwrap();
        let err = f
            .append_with(16, |w| {
                w.write_all(b"{\"b\":")?;
                w.write_all(&[b'9'; 100])?;
                Err(io::Error::other("disk full"))
            })
            .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert!(f.append(b"{\"c\":1}\n").is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"before\":1}\n{\"a\":1}\n"
        );
    }

    #[test]
    fn a_failed_write_is_reported_once_to_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        let records = Arc::new(RecordHealth::default());
        let mut f = LineFile::open(&path, Mode::Append, Some(Arc::clone(&records))).unwrap();
        f.append(b"{}\n").unwrap();
        let _ = f.append_with(8, |_| Err(io::Error::other("first")));
        let _ = f.sync(true);
        let failure = records.failure().unwrap();
        assert!(
            failure.contains("first") && failure.contains("x.jsonl"),
            "{failure}"
        );
    }
}
