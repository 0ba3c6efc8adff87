//! An indicatif terminal over the console sink's own writer, so `--progress always` draws
//! (with ANSI cursor movement) where stderr is not a terminal, and tests can capture it.

use std::io::Write;

use indicatif::TermLike;

use super::Out;

/// Lets indicatif draw into the sink's writer (`--progress always` without a terminal).
pub(super) struct WriterTerm(pub(super) Out);

impl std::fmt::Debug for WriterTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterTerm")
    }
}

impl WriterTerm {
    fn put(&self, s: &str) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.write_all(s.as_bytes()),
            Err(_) => Ok(()),
        }
    }
}

impl TermLike for WriterTerm {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}A"))
        } else {
            Ok(())
        }
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}B"))
        } else {
            Ok(())
        }
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}C"))
        } else {
            Ok(())
        }
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n > 0 {
            self.put(&format!("\x1b[{n}D"))
        } else {
            Ok(())
        }
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(&format!("{s}\n"))
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut out) => out.flush(),
            Err(_) => Ok(()),
        }
    }
}
