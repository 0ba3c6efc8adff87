//! The one JSON-lines reader every reader of the run directory uses.
//!
//! Files are written one complete line per write, so after a crash or `kill -9` only the last
//! line can be torn. [`JsonlReader`] yields each record in order, skips blank lines, skips
//! *and counts* an unparseable last line ([`JsonlReader::torn_lines`]), and reports an
//! unparseable line anywhere else as an error with its 1-based line number — then goes on
//! with the next line, so a caller may choose to warn and continue. Memory is bounded by the
//! longest line.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::marker::PhantomData;
use std::path::Path;

use serde::de::DeserializeOwned;

/// A line that is not a record, or a read failure.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("line {line}: not a valid record: {message}")]
    BadLine { line: u64, message: String },
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
}

/// Iterates the records of type `T` in a JSON-lines stream.
pub struct JsonlReader<T, R> {
    reader: R,
    line: u64,
    torn: u64,
    buf: Vec<u8>,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonlReader<T, BufReader<File>> {
    /// Opens a file.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self::new(BufReader::with_capacity(
            64 * 1024,
            super::open::open_regular(path)?,
        )))
    }
}

impl<T: DeserializeOwned, R: BufRead> JsonlReader<T, R> {
    pub fn new(reader: R) -> Self {
        JsonlReader {
            reader,
            line: 0,
            torn: 0,
            buf: Vec::new(),
            done: false,
            _t: PhantomData,
        }
    }

    /// Torn last lines skipped so far (0 or 1).
    pub fn torn_lines(&self) -> u64 {
        self.torn
    }

    /// The text of the line the last record came from (without its newline).
    pub fn last_line(&self) -> &[u8] {
        self.buf.trim_ascii()
    }

    /// Frees the line buffer when a long line grew it past 1 MiB (the record parsed from it
    /// holds its own copy): a caller that has no use for [`Self::last_line`] calls this after
    /// each record, so one 100 MB line does not stay resident twice.
    pub fn release_line(&mut self) {
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    fn at_eof(&mut self) -> bool {
        self.reader.fill_buf().map(|b| b.is_empty()).unwrap_or(true)
    }
}

impl<T: DeserializeOwned, R: BufRead> Iterator for JsonlReader<T, R> {
    type Item = Result<T, JsonlError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let complete = self.buf.last() == Some(&b'\n');
                    let text = self.buf.trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    match serde_json::from_slice::<T>(text) {
                        Ok(record) => return Some(Ok(record)),
                        Err(e) => {
                            if !complete || self.at_eof() {
                                self.torn += 1;
                                self.done = true;
                                return None;
                            }
                            return Some(Err(JsonlError::BadLine {
                                line: self.line,
                                message: e.to_string(),
                            }));
                        }
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}

/// Every record of a file, and how many torn last lines were skipped; the first bad line in
/// the middle is an error.
pub fn read_all<T: DeserializeOwned>(path: &Path) -> Result<(Vec<T>, u64), JsonlError> {
    let mut reader = JsonlReader::<T, _>::open(path)?;
    let mut out = Vec::new();
    for record in reader.by_ref() {
        out.push(record?);
    }
    Ok((out, reader.torn_lines()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<Result<u32, String>>, u64) {
        let mut r = JsonlReader::<u32, _>::new(text.as_bytes());
        let items = r.by_ref().map(|x| x.map_err(|e| e.to_string())).collect();
        (items, r.torn_lines())
    }

    #[test]
    fn skips_and_counts_a_torn_last_line_only() {
        assert_eq!(read("1\n2\n"), (vec![Ok(1), Ok(2)], 0));
        assert_eq!(read("1\n\n2"), (vec![Ok(1), Ok(2)], 0));
        assert_eq!(read("1\n2\n{\"ha"), (vec![Ok(1), Ok(2)], 1));
        assert_eq!(read("1\nx\n"), (vec![Ok(1)], 1));
        let (items, torn) = read("1\nx\n3\n");
        assert_eq!(torn, 0);
        assert_eq!(
            items[1],
            Err("line 2: not a valid record: expected value at line 1 column 1".into())
        );
        assert_eq!(items[2], Ok(3));
    }
}
