//! Named pipes: the node telemetry channel (`SECFLOW_EVENTS`, SPEC §11) is a FIFO in a
//! private directory that secflow reads and the tool writes to.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Creates a FIFO at `path` with permission bits `mode` (less the umask). Fails if anything
/// exists there (a symlink included: `mkfifo` never follows one).
pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in a FIFO path"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let r = unsafe { libc::mkfifo(c.as_ptr(), mode as libc::mode_t) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
