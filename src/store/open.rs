//! Opening a record file for reading without ever blocking on it.
//!
//! A run directory is read long after it was written, maybe copied from another machine:
//! `run.json`, `logs.jsonl` or `metrics.json` may be a FIFO (whose `open` blocks until a
//! writer appears), a device (`/dev/zero` never ends), a socket, or a symlink planted in
//! the run directory to make a reader (maybe root) read a file it was never meant to show.
//! [`open_regular`] opens with `O_NONBLOCK` (so the open itself never waits) and
//! `O_NOFOLLOW` (a symlink as the last component is refused, not followed) and refuses
//! anything but a regular file with an error saying what the file is. Safe code only.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading if it is a regular file and not a symlink; never blocks.
/// The error says what the file is instead; callers name the path.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        // ELOOP: the last component is a symlink (O_NOFOLLOW).
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) && is_symlink(path) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "refused: a symlink, not a regular file",
            ));
        }
        Err(e) => return Err(e),
    };
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        // O_NONBLOCK has no effect on a regular file's reads: keep the descriptor as is.
        return Ok(file);
    }
    let what = if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("refused: {what}, not a regular file"),
    ))
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Largest record file read whole (run.json, metrics.json): 1 GiB, far above a 100 000-node
/// run's record; a larger (or sparse, 100 GB) file is refused rather than allocated.
pub const MAX_WHOLE_FILE: u64 = 1 << 30;

/// The whole content of a regular file (see [`open_regular`]) of at most [`MAX_WHOLE_FILE`]
/// bytes.
pub fn read_regular(path: &Path) -> io::Result<Vec<u8>> {
    read_regular_at_most(path, MAX_WHOLE_FILE)
}

/// [`read_regular`] with a limit of `max` bytes (checked on the size before reading).
pub fn read_regular_at_most(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    read_file_at_most(file, max)
}

/// The whole content of an open file of at most `max` bytes.
pub fn read_file_at_most(file: File, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let size = file.metadata()?.len();
    let too_large = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("refused: larger than {}", human_size(max)),
        )
    };
    if size > max {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(size as usize + 1);
    // The size may change under us: read no more than the limit either way.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `bytes` in the largest binary unit that divides it (KiB, MiB or GiB), else bytes.
fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_devices_and_directories_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("run.json");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let e = open_regular(&fifo).unwrap_err();
        assert_eq!(e.to_string(), "refused: a FIFO, not a regular file");
        assert!(open_regular(Path::new("/dev/zero")).is_err());
        assert!(open_regular(dir.path()).is_err());
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(read_regular(&file).unwrap(), b"x");
    }

    #[test]
    fn refuses_a_symlinked_run_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "{\"k\":\"v\"}\n").unwrap();
        let link = dir.path().join("logs.jsonl");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let e = open_regular(&link).unwrap_err();
        assert_eq!(e.to_string(), "refused: a symlink, not a regular file");
        assert!(read_regular(&link).is_err());
        let e = crate::store::jsonl::JsonlReader::<serde_json::Value, _>::open(&link)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "refused: a symlink, not a regular file");
        // A symlinked directory above the file is still followed (only the file itself is
        // checked: run directories are reached through state-dir paths users choose).
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("run.json"), "{}").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("via")).unwrap();
        assert_eq!(
            read_regular(&dir.path().join("via/run.json")).unwrap(),
            b"{}"
        );
    }
}
