//! The one JSON-lines reader every reader of the run directory uses.
//!
//! Files are written one complete line per write, so after a crash or `kill -9` only the last
//! line can be torn. [`JsonlReader`] yields each record in order, skips blank lines, skips
//! *and counts* an unparseable last line ([`JsonlReader::torn_lines`]), and reports an
//! unparseable line anywhere else as an error with its 1-based line number — then goes on
//! with the next line, so a caller may choose to warn and continue. Memory is bounded by
//! [`MAX_LINE`]: a longer line (a hostile file: one 100 GB line of zeros) is skipped without
//! being buffered and reported like any other bad line ([`read_line`], shared with the audit
//! verifier).

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

/// Longest line a record file is read with (256 MiB: a full metrics snapshot of a 100 000-node
/// run fits; a log, span or audit line is far smaller).
pub const MAX_LINE: usize = 256 << 20;

/// What [`read_line`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineRead {
    /// End of the stream.
    Eof,
    /// A line is in the buffer (with its `\n`, unless it is the unterminated last one).
    Line,
    /// A line longer than the limit was skipped (the buffer is empty); `terminated` says
    /// whether it ended with `\n` (else it ran to the end of the stream: a torn last line).
    TooLong { terminated: bool },
}

/// Reads one line into `buf` (cleared first), at most `max` bytes of it: a longer line is
/// skipped to its end without being held in memory.
pub fn read_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    match read_line_or_stop(reader, buf, max)? {
        LineRead::TooLong { .. } => {
            buf.shrink_to(64 * 1024);
            let terminated = skip_line(reader)?;
            Ok(LineRead::TooLong { terminated })
        }
        read => Ok(read),
    }
}

/// [`read_line`] for a reader that stops at a line longer than `max`: that line is not
/// skipped (the stream is left in its middle; read no further), and the result is
/// `TooLong { terminated: false }`. What a long run of bytes without a newline (a sparse
/// file's hole) then costs is `max`, not its length.
pub fn read_line_or_stop<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    let n = io::Read::take(&mut *reader, max as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(LineRead::Eof);
    }
    if buf.len() > max && buf.last() != Some(&b'\n') {
        buf.clear();
        return Ok(LineRead::TooLong { terminated: false });
    }
    Ok(LineRead::Line)
}

/// Consumes the rest of a line, its `\n` included; false when the stream ended first.
fn skip_line<R: BufRead>(reader: &mut R) -> io::Result<bool> {
    loop {
        let (found, used) = match reader.fill_buf() {
            Ok([]) => return Ok(false),
            Ok(available) => match memchr::memchr(b'\n', available) {
                Some(i) => (true, i + 1),
                None => (false, available.len()),
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        reader.consume(used);
        if found {
            return Ok(true);
        }
    }
}

/// Iterates the records of type `T` in a JSON-lines stream.
pub struct JsonlReader<T, R> {
    reader: R,
    line: u64,
    torn: u64,
    buf: Vec<u8>,
    done: bool,
    max_line: usize,
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
            max_line: MAX_LINE,
            _t: PhantomData,
        }
    }

    /// Reads lines of at most `max` bytes (default [`MAX_LINE`]); longer ones are bad lines.
    pub fn max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
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
            match read_line(&mut self.reader, &mut self.buf, self.max_line) {
                Ok(LineRead::Eof) => self.done = true,
                Ok(LineRead::TooLong { terminated }) => {
                    self.line += 1;
                    if !terminated {
                        self.torn += 1;
                        self.done = true;
                        return None;
                    }
                    return Some(Err(JsonlError::BadLine {
                        line: self.line,
                        message: format!("longer than {} bytes: skipped", self.max_line),
                    }));
                }
                Ok(LineRead::Line) => {
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
    fn a_line_over_the_limit_is_skipped_unbuffered_and_reading_goes_on() {
        let long = "7".repeat(100);
        let text = format!("1\n{long}\n2\n{long}");
        let mut r = JsonlReader::<u32, _>::new(text.as_bytes()).max_line(16);
        let items: Vec<_> = r.by_ref().map(|x| x.map_err(|e| e.to_string())).collect();
        assert_eq!(
            items,
            vec![
                Ok(1),
                Err("line 2: not a valid record: longer than 16 bytes: skipped".into()),
                Ok(2)
            ]
        );
        // The unterminated long last line is a torn one.
        assert_eq!(r.torn_lines(), 1);
        // The buffer never held the long line.
        let text = format!("{long}\nok\n");
        let mut reader = std::io::BufReader::with_capacity(8, text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut reader, &mut buf, 16).unwrap(),
            LineRead::TooLong { terminated: true }
        );
        assert!(buf.len() <= 17);
        assert_eq!(
            read_line(&mut reader, &mut buf, 16).unwrap(),
            LineRead::Line
        );
        assert_eq!(buf, b"ok\n");
        assert_eq!(read_line(&mut reader, &mut buf, 16).unwrap(), LineRead::Eof);
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
