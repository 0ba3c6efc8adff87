//! Resource usage as the kernel reports it (`getrusage`, `wait4`), and waiting for one
//! child by pid (never `waitpid(-1)`, which would steal another waiter's status).

use std::io;
use std::time::Duration;

/// The figures secflow records from a `struct rusage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub user: Duration,
    pub system: Duration,
    /// Peak resident set size in bytes (the kernel counts KiB).
    pub max_rss: u64,
    /// Bytes read and written through the block layer (512-byte blocks).
    pub read_bytes: u64,
    pub write_bytes: u64,
}

impl Usage {
    /// The usage of two sets of processes together: times and I/O add up, the peak RSS
    /// is the larger one (a per-process peak).
    pub fn merged(&self, other: &Usage) -> Usage {
        Usage {
            user: self.user + other.user,
            system: self.system + other.system,
            max_rss: self.max_rss.max(other.max_rss),
            read_bytes: self.read_bytes + other.read_bytes,
            write_bytes: self.write_bytes + other.write_bytes,
        }
    }

    fn from_raw(u: &libc::rusage) -> Usage {
        let tv = |t: libc::timeval| {
            Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000)
        };
        Usage {
            user: tv(u.ru_utime),
            system: tv(u.ru_stime),
            max_rss: u.ru_maxrss.max(0) as u64 * 1024,
            read_bytes: u.ru_inblock.max(0) as u64 * 512,
            write_bytes: u.ru_oublock.max(0) as u64 * 512,
        }
    }
}

/// Whose usage [`get`] reports.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    /// This process, all threads.
    SelfProcess,
    /// The calling thread.
    Thread,
    /// Every child this process has reaped (and their reaped descendants).
    Children,
}

/// This process's own usage: `getrusage(RUSAGE_SELF)`, with the peak RSS of its own address
/// space ([`super::proc::own_peak_rss`]) in place of `ru_maxrss`, which Linux carries over
/// `execve` from the parent's.
pub fn own() -> Option<Usage> {
    let mut u = get(Who::SelfProcess)?;
    if let Some(rss) = super::proc::own_peak_rss() {
        u.max_rss = rss;
    }
    Some(u)
}

/// `getrusage` for `who`; `None` if the kernel refuses.
pub fn get(who: Who) -> Option<Usage> {
    let who = match who {
        Who::SelfProcess => libc::RUSAGE_SELF,
        Who::Thread => libc::RUSAGE_THREAD,
        Who::Children => libc::RUSAGE_CHILDREN,
    };
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is live and writable.
    let rc = unsafe { libc::getrusage(who, &mut usage) };
    (rc == 0).then(|| Usage::from_raw(&usage))
}

/// How a reaped child ended: its raw wait status and its rusage.
#[derive(Debug, Clone, Copy)]
pub struct Reaped {
    pub status: i32,
    pub usage: Usage,
}

impl Reaped {
    /// The exit code when it exited.
    pub fn exit_code(&self) -> Option<i32> {
        exit_code(self.status)
    }
    /// The signal that killed it, when one did.
    pub fn signal(&self) -> Option<i32> {
        signal(self.status)
    }
}

/// The exit code in a raw wait status, when the process exited.
pub fn exit_code(status: i32) -> Option<i32> {
    libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status))
}

/// The signal in a raw wait status, when one killed the process.
pub fn signal(status: i32) -> Option<i32> {
    libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status))
}

/// Reaps child `pid` with `wait4`, blocking until it exits (retrying on EINTR).
pub fn wait(pid: i32) -> io::Result<Reaped> {
    loop {
        match wait4(pid, 0)? {
            Some(r) => return Ok(r),
            None => continue,
        }
    }
}

/// Whether this process has any child, running or exited and unreaped (`waitid` with
/// `WNOWAIT`: nothing is reaped). A cheap test before a `/proc` scan for children; on an
/// error other than ECHILD it answers `true`, so the caller scans.
pub fn has_children() -> bool {
    // SAFETY: a zeroed siginfo_t is a valid value of this plain C struct.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is live and writable; P_ALL takes no id; nothing is reaped (WNOWAIT).
    let r = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) };
    !(r == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD))
}

/// Reaps child `pid` if it has exited: `Ok(None)` while it runs. ECHILD is an error.
pub fn try_wait(pid: i32) -> io::Result<Option<Reaped>> {
    wait4(pid, libc::WNOHANG)
}

fn wait4(pid: i32, flags: i32) -> io::Result<Option<Reaped>> {
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ECHILD));
    }
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are live and writable; `pid` is one process.
    let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    if r == pid {
        return Ok(Some(Reaped {
            status,
            usage: Usage::from_raw(&usage),
        }));
    }
    if r == 0 {
        return Ok(None);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::Interrupted {
        return Ok(None);
    }
    Err(e)
}
