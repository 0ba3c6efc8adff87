//! A directory held open by descriptor, and files made beneath it without following
//! symlinks (SPEC §10 "The state directory is trusted or refused": record files are created
//! under directory descriptors with `O_NOFOLLOW`, so a path swapped mid-run is never
//! followed).
//!
//! Every path given to [`Dir`] is relative to it and is resolved one component at a time
//! with `openat(…, O_NOFOLLOW)`: a component that is a symlink fails with `ELOOP`, `..` and
//! absolute paths are refused, and renaming or replacing the directory's own path does not
//! redirect anything: the descriptor still names the directory that was opened.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};

/// An open directory.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    /// The path it was opened by (for messages and for mapping absolute paths onto it).
    path: PathBuf,
}

/// How [`Dir::open_file`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create or truncate, write.
    Truncate,
    /// Create if missing, append.
    Append,
    /// Create; fail if it exists; append.
    CreateNew,
}

fn c_name(name: &std::ffi::OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `openat(dirfd, name, flags, mode)`, returning an owned descriptor.
fn openat(dirfd: i32, name: &std::ffi::OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `dirfd` is a
    // descriptor the caller keeps open for the duration of the call.
    let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by openat and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The plain components of a relative path; `..`, `.`-only, root or prefix are refused.
fn components(rel: &Path) -> io::Result<Vec<&std::ffi::OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => out.push(name),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a path beneath the directory", rel.display()),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    Ok(out)
}

impl Dir {
    /// Opens `path`, which must be a directory and (its last component) not a symlink.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = openat(
            libc::AT_FDCWD,
            path.as_os_str(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path the directory was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `path` relative to this directory, when it is beneath the path it was opened by.
    pub fn relative<'a>(&self, path: &'a Path) -> Option<&'a Path> {
        path.strip_prefix(&self.path)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
    }

    /// The directory holding the last component of `rel`, opened without following any
    /// symlink, and that last component.
    fn parent_of<'a>(&self, rel: &'a Path) -> io::Result<(Option<OwnedFd>, &'a std::ffi::OsStr)> {
        let parts = components(rel)?;
        let (leaf, dirs) = parts.split_last().expect("components are never empty");
        let mut current: Option<OwnedFd> = None;
        for name in dirs {
            let at = current
                .as_ref()
                .map_or(self.fd.as_raw_fd(), |f| f.as_raw_fd());
            let next = openat(
                at,
                name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?;
            current = Some(next);
        }
        Ok((current, leaf))
    }

    fn raw(&self, parent: &Option<OwnedFd>) -> i32 {
        parent
            .as_ref()
            .map_or(self.fd.as_raw_fd(), |f| f.as_raw_fd())
    }

    /// Opens the file `rel` beneath this directory for writing, never through a symlink.
    pub fn open_file(&self, rel: &Path, mode: Mode) -> io::Result<File> {
        let (parent, leaf) = self.parent_of(rel)?;
        let flags = libc::O_WRONLY
            | libc::O_NOFOLLOW
            | match mode {
                Mode::Truncate => libc::O_CREAT | libc::O_TRUNC,
                Mode::Append => libc::O_CREAT | libc::O_APPEND,
                Mode::CreateNew => libc::O_CREAT | libc::O_EXCL | libc::O_APPEND,
            };
        let fd = openat(self.raw(&parent), leaf, flags, 0o644)?;
        Ok(File::from(fd))
    }

    /// Opens the regular file `rel` beneath this directory for reading, never through a
    /// symlink and without blocking on a FIFO (one swapped in is refused).
    pub fn open_read(&self, rel: &Path) -> io::Result<File> {
        let (parent, leaf) = self.parent_of(rel)?;
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let file = File::from(openat(self.raw(&parent), leaf, flags, 0)?);
        if file.metadata()?.is_file() {
            Ok(file)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a regular file", self.path.join(rel).display()),
            ))
        }
    }

    /// Creates the directory `rel` (mode 0700 before the umask); an existing one is fine.
    /// Its parents must exist.
    pub fn create_dir(&self, rel: &Path) -> io::Result<()> {
        let (parent, leaf) = self.parent_of(rel)?;
        let name = c_name(leaf)?;
        // SAFETY: `name` is NUL-terminated and outlives the call; the directory descriptor
        // is open for the duration of the call.
        let r = unsafe { libc::mkdirat(self.raw(&parent), name.as_ptr(), 0o700) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::AlreadyExists {
            return Ok(());
        }
        Err(e)
    }

    /// Renames `from` to `to`, both beneath this directory (`renameat`; a symlink in either
    /// path's directories is refused, and the last components are names, never followed).
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from_parent, from_leaf) = self.parent_of(from)?;
        let (to_parent, to_leaf) = self.parent_of(to)?;
        let (a, b) = (c_name(from_leaf)?, c_name(to_leaf)?);
        // SAFETY: both names are NUL-terminated and outlive the call; both directory
        // descriptors are open for the duration of the call.
        let r = unsafe {
            libc::renameat(
                self.raw(&from_parent),
                a.as_ptr(),
                self.raw(&to_parent),
                b.as_ptr(),
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Removes the file `rel` beneath this directory.
    pub fn remove_file(&self, rel: &Path) -> io::Result<()> {
        let (parent, leaf) = self.parent_of(rel)?;
        let name = c_name(leaf)?;
        // SAFETY: `name` is NUL-terminated and outlives the call; the descriptor is open.
        let r = unsafe { libc::unlinkat(self.raw(&parent), name.as_ptr(), 0) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Takes an exclusive `flock` on the directory without waiting: `Ok(false)` when another
    /// open description holds it. Held until every descriptor of this one is closed (or
    /// its process is gone), which is what makes it a liveness mark.
    pub fn try_lock(&self) -> io::Result<bool> {
        // SAFETY: flock on a descriptor owned by `self`; no memory is passed.
        let r = unsafe { libc::flock(self.fd.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::WouldBlock {
            Ok(false)
        } else {
            Err(e)
        }
    }

    /// The directory's own metadata (`fstat` of the descriptor).
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        File::from(self.fd.try_clone()?).metadata()
    }

    /// Removes the empty subdirectory `name` (one component, never followed).
    pub fn remove_child_dir(&self, name: &std::ffi::OsStr) -> io::Result<()> {
        let name = c_name(one_component(name)?)?;
        // SAFETY: `name` is NUL-terminated and outlives the call; the descriptor is open.
        let r = unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// fsyncs the directory itself (its entries: a rename or a new file is then durable).
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: the descriptor is open and owned by `self`.
        let r = unsafe { libc::fsync(self.fd.as_raw_fd()) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Reading a tree someone else left (a node's directory output): every step by descriptor,
/// so a symlink — or a path swapped for one meanwhile — is never followed.
impl Dir {
    /// Opens the subdirectory `name` (one component) without following a symlink.
    pub fn open_child_dir(&self, name: &std::ffi::OsStr) -> io::Result<Dir> {
        let fd = openat(
            self.fd.as_raw_fd(),
            one_component(name)?,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        Ok(Dir {
            fd,
            path: self.path.join(name),
        })
    }

    /// Opens `name` for reading only if it is a regular file: first as an `O_PATH`
    /// descriptor (which opens nothing: no fifo blocks, no device sees an `open`), checked
    /// with `fstat`, then reopened through `/proc/self/fd`.
    pub fn open_child_file(&self, name: &std::ffi::OsStr) -> io::Result<File> {
        let handle = openat(
            self.fd.as_raw_fd(),
            one_component(name)?,
            libc::O_PATH | libc::O_NOFOLLOW,
            0,
        )?;
        let handle = File::from(handle);
        if !handle.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a regular file", self.path.join(name).display()),
            ));
        }
        let reopened = format!("/proc/self/fd/{}", handle.as_raw_fd());
        std::fs::OpenOptions::new()
            .read(true)
            // Not O_NOFOLLOW: the magic link is followed to the very inode checked above.
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(reopened)
            .or_else(|_| {
                // Without `/proc`: by name beneath the descriptor, never through a symlink.
                let fd = openat(
                    self.fd.as_raw_fd(),
                    name,
                    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY,
                    0,
                )?;
                let file = File::from(fd);
                if file.metadata()?.is_file() {
                    Ok(file)
                } else {
                    Err(io::Error::from(io::ErrorKind::InvalidData))
                }
            })
    }

    /// The entries of the directory that was opened (whatever its path names now), listed
    /// through `/proc/self/fd`; their `file_type` is the entry's own, never followed.
    pub fn entries(&self) -> io::Result<std::fs::ReadDir> {
        std::fs::read_dir(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// The target of the symlink `name`, as text (never followed).
    pub fn read_child_link(&self, name: &std::ffi::OsStr) -> io::Result<PathBuf> {
        let mut path = PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()));
        path.push(one_component(name)?);
        std::fs::read_link(path)
    }
}

/// `name` when it is one plain path component (no `/`, not `.` or `..`).
fn one_component(name: &std::ffi::OsStr) -> io::Result<&std::ffi::OsStr> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.contains(&b'/') || bytes == b"." || bytes == b".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a single path component",
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_opened_by_descriptor_and_only_regular_files_are_read() {
        use std::io::Read as _;
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("tree");
        std::fs::create_dir_all(base.join("sub")).unwrap();
        std::fs::write(base.join("sub/f"), "data").unwrap();
        std::os::unix::fs::symlink("/etc", base.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", base.join("pw")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(base.join("fifo"))
            .status()
            .unwrap();
        assert!(fifo.success());
        let dir = Dir::open(&base).unwrap();
        let sub = dir.open_child_dir("sub".as_ref()).unwrap();
        let mut text = String::new();
        let mut f = sub.open_child_file("f".as_ref()).unwrap();
        f.read_to_string(&mut text).unwrap();
        assert_eq!(text, "data");
        assert!(dir.open_child_dir("etc".as_ref()).is_err());
        assert!(dir.open_child_file("pw".as_ref()).is_err());
        // A fifo is refused at once, never waited on.
        assert!(dir.open_child_file("fifo".as_ref()).is_err());
        assert!(dir.open_child_dir("..".as_ref()).is_err());
        assert_eq!(
            dir.read_child_link("pw".as_ref()).unwrap(),
            Path::new("/etc/passwd")
        );
        // Listing names what the descriptor holds even after the path is swapped for a link.
        std::fs::rename(&base, tmp.path().join("moved")).unwrap();
        std::os::unix::fs::symlink("/etc", &base).unwrap();
        let names: Vec<_> = dir
            .entries()
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            names.iter().any(|n| n == "sub") && names.len() == 4,
            "{names:?}"
        );
    }

    #[test]
    fn files_are_made_beneath_and_symlinks_are_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("run");
        std::fs::create_dir(&base).unwrap();
        let dir = Dir::open(&base).unwrap();
        dir.create_dir(Path::new("nodes")).unwrap();
        dir.create_dir(Path::new("nodes")).unwrap();
        use std::io::Write as _;
        dir.open_file(Path::new("nodes/a.log"), Mode::Append)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert_eq!(std::fs::read(base.join("nodes/a.log")).unwrap(), b"x");
        // The directory's path is swapped for a symlink: the descriptor still writes into
        // the directory that was opened.
        let victim = tmp.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::rename(&base, tmp.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&victim, &base).unwrap();
        dir.open_file(Path::new("run.json"), Mode::Truncate)
            .unwrap();
        assert!(tmp.path().join("moved/run.json").exists());
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
        // A symlink inside is refused, as is `..`.
        std::os::unix::fs::symlink(&victim, tmp.path().join("moved/link")).unwrap();
        assert!(dir.open_file(Path::new("link/x"), Mode::Append).is_err());
        std::os::unix::fs::symlink(victim.join("f"), tmp.path().join("moved/f")).unwrap();
        assert!(dir.open_file(Path::new("f"), Mode::Append).is_err());
        assert!(dir.open_file(Path::new("../x"), Mode::Append).is_err());
        assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
        dir.rename(Path::new("run.json"), Path::new("nodes/r.json"))
            .unwrap();
        dir.remove_file(Path::new("nodes/r.json")).unwrap();
        dir.sync().unwrap();
        assert!(Dir::open(&base).is_err(), "the symlinked path is refused");
    }
}
