//! Processes through `/proc` and `kill(2)`: a process's descendants (the subreaper's scan),
//! its process group, whether it is alive.

use std::collections::BTreeSet;

/// Every descendant of `root` (not `root` itself), found by walking
/// `/proc/<pid>/task/<tid>/children` down from it, zombies included, each once.
/// A process may fork or exit while this runs: callers scan again until nothing is left.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for child in children(pid) {
            if child != root && seen.insert(child) {
                found.push(child);
                stack.push(child);
            }
        }
    }
    found
}

/// The children of `pid`, from the `children` file of each of its threads.
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let mut path = task.path();
        path.push("children");
        if let Ok(text) = std::fs::read_to_string(&path) {
            out.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// (state, parent pid, process group) of `pid` from `/proc/<pid>/stat`.
pub fn stat(pid: i32) -> Option<(char, i32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some((state, ppid, pgid))
}

/// Sends `signal` to process `pid` (> 0). `false` if it is gone (or not ours to signal).
pub fn kill(pid: i32, signal: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Sends `signal` to process group `pgid` (> 1); a group that is gone is not an error.
pub fn kill_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: killpg(2) has no memory-safety preconditions.
        unsafe { libc::killpg(pgid, signal) };
    }
}

/// Whether a process with this pid exists (zombies included), as `kill(pid, 0)` sees it:
/// one owned by another user counts as existing.
pub fn exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// This process's id.
pub fn own_pid() -> i32 {
    std::process::id() as i32
}

/// A pidfd for `pid` (`pidfd_open`). Only safe against pid reuse for a child of the caller
/// that it has not reaped (its pid cannot be recycled until then).
pub fn pidfd_open(pid: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open(2) takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nothing else owns (pidfds are close-on-exec).
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Sends `signal` to the process `pidfd` names (never to a process that took its pid after
/// it was reaped). `false` if it is gone.
pub fn pidfd_kill(pidfd: std::os::fd::BorrowedFd<'_>, signal: i32) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal(2) with a null siginfo and no flags reads no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// This process's own peak resident set, bytes: `VmHWM` of `/proc/self/status`, the high-water
/// mark of its address space. Unlike `ru_maxrss`, which Linux carries over `execve` from the
/// address space the process had before (its parent's, when it was forked from a big
/// process), it starts afresh at exec. `None` when /proc is not readable.
pub fn own_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line["VmHWM:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
