//! Resource limits: the open-descriptor limit a run raises for itself.

/// The open-descriptor limit (soft, hard).
pub fn nofile() -> Option<(u64, u64)> {
    // SAFETY: a zeroed rlimit is valid; getrlimit writes into it.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `lim` is live and writable.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0)
        .then_some((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Raises the soft open-descriptor limit to the hard one. Returns (the soft limit before,
/// the soft limit now); `None` if the limit cannot be read.
pub fn raise_nofile() -> Option<(u64, u64)> {
    let (soft, hard) = nofile()?;
    if soft >= hard {
        return Some((soft, soft));
    }
    let lim = libc::rlimit {
        rlim_cur: hard as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid rlimit read by the call.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0;
    Some((soft, if ok { hard } else { soft }))
}

/// Sets the soft open-descriptor limit back to `soft` (keeping the hard one); used in a
/// tool's process before it execs, so tools see the limit secflow was started with.
pub fn restore_nofile(soft: u64) {
    if let Some((_, hard)) = nofile() {
        let lim = libc::rlimit {
            rlim_cur: soft.min(hard) as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: `lim` is a valid rlimit read by the call.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}
