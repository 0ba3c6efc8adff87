//! Appending whole lines to `metrics.jsonl`, through the store's [`LineFile`].
//!
//! A snapshot line is streamed from the registry in many writes, so a write that fails half
//! way (a full disk) would leave a torn line, and every later line would follow it. The
//! file is cut back to where its last complete line ended and takes nothing more: readers
//! only ever see whole lines (a torn last line, from a crash, they skip).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::WRITE_BUFFER;
use crate::store::append::LineFile;

pub struct LineAppender {
    path: PathBuf,
    /// Opened on the first line (an open that fails is tried again on the next one).
    file: Option<LineFile>,
    /// The run's records: the file is opened beneath the run directory's descriptor.
    records: Option<std::sync::Arc<crate::store::RecordHealth>>,
}

impl LineAppender {
    pub fn new(path: &Path) -> Self {
        LineAppender {
            path: path.to_path_buf(),
            file: None,
            records: None,
        }
    }

    /// An appender whose file is opened through `records` (never through a symlink).
    pub fn for_run(path: &Path, records: std::sync::Arc<crate::store::RecordHealth>) -> Self {
        LineAppender {
            records: Some(records),
            ..LineAppender::new(path)
        }
    }

    /// Appends the line `write` produces (it must end with `\n`). The error of a failed open
    /// or write is returned; after a failed write the file ends with its last whole line and
    /// later calls do nothing.
    pub fn append(
        &mut self,
        write: impl FnOnce(&mut BufWriter<&mut File>) -> std::io::Result<()>,
    ) -> Result<(), String> {
        let file = match &mut self.file {
            Some(file) if file.is_failed() => return Ok(()),
            Some(file) => file,
            None => {
                let opened = LineFile::open(
                    &self.path,
                    crate::sys::dirfd::Mode::Append,
                    self.records.clone(),
                )
                .map_err(|e| format!("cannot open {}: {e}", self.path.display()))?;
                self.file.insert(opened)
            }
        };
        file.append_with(WRITE_BUFFER, write).map_err(|e| {
            format!(
                "cannot append to {} (kept its {} bytes of whole lines, no more snapshots \
                 appended): {e}",
                self.path.display(),
                file.end()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_line_that_fails_half_way_is_cut_off_and_nothing_follows_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "{\"before\":1}\n").unwrap();
        let mut lines = LineAppender::new(&path);
        lines.append(|w| w.write_all(b"{\"a\":1}\n")).unwrap();
        // More than the buffer, so part of the torn line reaches the file before the failure.
        let err = lines
            .append(|w| {
                w.write_all(b"{\"b\":")?;
                w.write_all(&vec![b'9'; 3 * WRITE_BUFFER])?;
                Err(std::io::Error::other("disk full"))
            })
            .unwrap_err();
        assert!(
            err.contains("disk full") && err.contains("metrics.jsonl"),
            "{err}"
        );
        lines.append(|w| w.write_all(b"{\"c\":1}\n")).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"before\":1}\n{\"a\":1}\n"
        );
    }

    #[test]
    fn an_open_that_fails_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later").join("metrics.jsonl");
        let mut lines = LineAppender::new(&path);
        let err = lines.append(|w| w.write_all(b"{}\n")).unwrap_err();
        assert!(err.starts_with("cannot open"), "{err}");
        std::fs::create_dir(dir.path().join("later")).unwrap();
        lines.append(|w| w.write_all(b"{}\n")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
    }
}
