//! Signal dispositions and masks: what secflow inherits (an ignored SIGCHLD is reset, an
//! ignored SIGHUP is respected), the spawner's and shim's blocked-signal loops
//! (`sigtimedwait`, `signalfd`), and the Slurm wrapper's forwarding handler.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Whether `sig`'s disposition is `SIG_IGN` (inherited across `execve`, e.g. from `nohup`).
pub fn is_ignored(sig: i32) -> bool {
    // SAFETY: a zeroed sigaction is valid; a null new action only queries.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: `old` is live and writable.
    let ok = unsafe { libc::sigaction(sig, std::ptr::null(), &mut old) } == 0;
    ok && old.sa_sigaction == libc::SIG_IGN
}

/// Sets `sig` to its default action.
pub fn set_default(sig: i32) {
    // SAFETY: SIG_DFL is a valid disposition for every catchable signal.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Resets an inherited `SIG_IGN` for SIGCHLD: with it the kernel reaps children itself and
/// every `wait4` fails with ECHILD. A handler someone installed is left alone.
pub fn reset_ignored_sigchld() {
    if is_ignored(libc::SIGCHLD) {
        set_default(libc::SIGCHLD);
    }
}

/// A set of signals.
#[derive(Clone, Copy)]
pub struct SigSet(libc::sigset_t);

impl SigSet {
    pub fn of(signals: &[i32]) -> SigSet {
        // SAFETY: sigemptyset/sigaddset initialise and write the set they are given.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            SigSet(set)
        }
    }

    pub fn all() -> SigSet {
        // SAFETY: sigfillset initialises the set it is given.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut set);
            SigSet(set)
        }
    }

    pub fn empty() -> SigSet {
        SigSet::of(&[])
    }
}

/// Replaces this thread's signal mask with `set`, returning the old one.
pub fn set_mask(set: &SigSet) -> SigSet {
    // SAFETY: both pointers are to live sigset_t values.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, &set.0, &mut old);
        SigSet(old)
    }
}

/// Waits up to `timeout` (forever when `None`) for one of `set` (which must be blocked).
/// Returns the signal, or `None` on timeout or interruption.
pub fn wait_for(set: &SigSet, timeout: Option<Duration>) -> Option<i32> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const _);
    // SAFETY: `set` and `ts` are live; a null siginfo pointer is allowed.
    let r = unsafe { libc::sigtimedwait(&set.0, std::ptr::null_mut(), ts_ptr) };
    (r > 0).then_some(r)
}

/// A `signalfd` for `set` (which must be blocked), non-blocking and close-on-exec.
pub fn signalfd(set: &SigSet) -> io::Result<OwnedFd> {
    // SAFETY: `set` is a live sigset_t; -1 asks for a new descriptor.
    let fd = unsafe { libc::signalfd(-1, &set.0, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads every pending signal from a signalfd; returns their numbers.
pub fn drain_signalfd(fd: RawFd) -> Vec<i32> {
    let mut out = Vec::new();
    loop {
        // SAFETY: a zeroed signalfd_siginfo is valid; read fills at most its size.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: `info` is live and `size` bytes long.
        let r = unsafe { libc::read(fd, (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
        if r != size as isize {
            return out;
        }
        out.push(info.ssi_signo as i32);
    }
}

/// Waits until `fds` are readable (or `timeout` passes); returns which are.
pub fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> Vec<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: `pfds` is a live array of its length.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if r <= 0 {
        return vec![false; fds.len()];
    }
    pfds.iter().map(|p| p.revents != 0).collect()
}

/// Installs `handler` for `sig` (SA_RESTART). The handler must only make
/// async-signal-safe calls.
pub fn install_handler(sig: i32, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: the handler is async-signal-safe by this function's contract; the action
    // struct is fully initialised.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut());
    }
}

/// Restores `sig`'s default action and raises it on this process (a wrapper ending as its
/// child did). Returns only if the signal did not end the process.
pub fn raise_default(sig: i32) {
    set_default(sig);
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(sig) };
}

/// The process group [`forward_signals`] forwards to (0: none yet).
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);
/// A signal received before there was a group to forward it to.
static FORWARD_PENDING: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    use std::sync::atomic::Ordering;
    // Only async-signal-safe calls here: atomics and kill(2).
    let pgid = FORWARD_TO.load(Ordering::SeqCst);
    if pgid > 0 {
        // SAFETY: kill(2) is async-signal-safe; a stale group only yields ESRCH.
        unsafe { libc::kill(-pgid, sig) };
    } else {
        FORWARD_PENDING.store(sig, Ordering::SeqCst);
    }
}

/// Forwards each of `signals` received by this process to the group set by
/// [`forward_to`] (remembering the last one received before that).
pub fn forward_signals(signals: &[i32]) {
    for &sig in signals {
        install_handler(sig, forward);
    }
}

/// Sets the group signals are forwarded to (0 stops forwarding) and delivers one that
/// arrived before.
pub fn forward_to(pgid: i32) {
    use std::sync::atomic::Ordering;
    FORWARD_TO.store(pgid, Ordering::SeqCst);
    let pending = FORWARD_PENDING.swap(0, Ordering::SeqCst);
    if pgid > 0 && pending != 0 {
        super::proc::kill_group(pgid, pending);
    }
}

/// Stores `sig` in `first` when `sig` arrives and `first` still holds 0, from the signal
/// handler itself, next to any other action for `sig` (tokio's registers through the same
/// registry and still runs). So a thread busy with blocking work can see a signal that its
/// runtime has not delivered yet.
pub fn record_first(sig: i32, first: &'static std::sync::atomic::AtomicI32) -> io::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    // SAFETY: the action only does a compare-and-swap on a lock-free atomic integer, which is
    // async-signal-safe; it allocates nothing, takes no lock and keeps `errno`.
    let registered = unsafe {
        signal_hook_registry::register(sig, move || {
            let _ = first.compare_exchange(0, sig, Relaxed, Relaxed);
        })
    };
    registered.map(|_| ())
}
