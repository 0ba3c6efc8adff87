//! Small libc calls the rest of the crate needs, each behind a safe function: host name,
//! user id, clock ticks, thread priority, heap trimming, filesystem usage, `prctl`.

use std::path::Path;

/// This machine's host name, when the kernel gives one.
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// The real user id of this process.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail and has no preconditions.
    unsafe { libc::getuid() }
}

/// Clock ticks per second (`/proc/<pid>/stat` times are in ticks); 100 if unknown.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

/// The nice value of the calling thread.
pub fn thread_nice() -> i32 {
    // SAFETY: gettid and getpriority have no memory-safety preconditions.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

/// Lowers the calling thread's priority by `increment` (capped at 19); best effort.
pub fn lower_thread_priority(increment: i32) {
    // SAFETY: gettid and setpriority have no memory-safety preconditions; `who` is this
    // thread's id, which Linux accepts for PRIO_PROCESS.
    unsafe {
        let tid = libc::gettid();
        let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
        libc::setpriority(
            libc::PRIO_PROCESS,
            tid as libc::id_t,
            (now + increment).min(19),
        );
    }
}

/// Hands freed heap pages back to the OS (glibc keeps them per malloc arena otherwise).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; no pointer is invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// (blocks, free blocks, blocks available to unprivileged users) of the filesystem
/// holding `path`, in the same unit.
pub fn statvfs(path: &Path) -> Option<(f64, f64, f64)> {
    use std::os::unix::ffi::OsStrExt;
    let mut bytes = path.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `bytes` is NUL-terminated and outlives the call; statvfs only writes into `st`.
    let rc = unsafe { libc::statvfs(bytes.as_ptr().cast(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded and filled the struct.
    let st = unsafe { st.assume_init() };
    Some((st.f_blocks as f64, st.f_bfree as f64, st.f_bavail as f64))
}

/// Makes this process a child subreaper: orphaned descendants become its children.
pub fn set_child_subreaper() -> std::io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to send `signal` to this process when its parent (the thread that
/// forked it) exits.
pub fn set_parent_death_signal(signal: i32) {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) };
}

/// The parent process id.
pub fn parent_pid() -> i32 {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() }
}
