//! Descriptors: pipes, `/dev/null`, and passing descriptors over a Unix socket
//! (`SCM_RIGHTS`), all close-on-exec.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// `/dev/null` opened once (read-write), for every child's stdin.
pub fn dev_null() -> io::Result<BorrowedFd<'static>> {
    static DEV_NULL: OnceLock<OwnedFd> = OnceLock::new();
    use std::os::fd::AsFd;
    if let Some(fd) = DEV_NULL.get() {
        return Ok(fd.as_fd());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    Ok(DEV_NULL.get_or_init(|| OwnedFd::from(file)).as_fd())
}

/// The channel a shim reports an attempt on: a Unix stream socket pair, both ends
/// close-on-exec, (secflow's end, non-blocking; the shim's end, blocking). A socket, not a
/// pipe: `/proc/<pid>/fd/<n>` of a pipe can be opened by whoever may look into that
/// process (its root tools), which would let a tool write its own end; a socket cannot be
/// opened that way.
pub fn report_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) = socketpair()?;
    set_nonblocking_fresh(&ours)?;
    Ok((ours, theirs))
}

/// Sets `O_NONBLOCK` on a descriptor just made, which has no other status flag set (so one
/// `F_SETFL`, no `F_GETFL`).
fn set_nonblocking_fresh(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: F_SETFL on a descriptor the caller owns.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe, both ends close-on-exec: (read end, set non-blocking; write end, blocking).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = pipe_blocking()?;
    set_nonblocking_fresh(&read)?;
    Ok((read, write))
}

/// A pipe, both ends close-on-exec and blocking.
pub fn pipe_blocking() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds points to two writable ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Clears or sets close-on-exec on `fd`.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD on a descriptor the caller owns.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flag) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `bytes` on the stream socket `sock`, with `fds` attached to the first byte.
/// Blocks until everything is written.
pub fn send_with_fds(sock: RawFd, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let space = cmsg_space(fds.len());
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `control` is CMSG_SPACE(n fds) bytes, so the first header and its data
        // fit; CMSG_FIRSTHDR/CMSG_DATA point inside it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                std::mem::size_of_val(fds),
            );
        }
    }
    let sent = loop {
        // SAFETY: `msg` and everything it points to are live for the call.
        let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    write_all(sock, &bytes[sent..])
}

/// Writes all of `bytes` to `fd` (blocking), retrying on EINTR. `send` with `MSG_NOSIGNAL`
/// on a socket (a closed reader is an EPIPE error, never a SIGPIPE), `write` on a pipe.
pub fn write_all(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    write_each(bytes, |b| {
        // SAFETY: `b` is valid for reads of its length.
        let r = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
        if r < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
            // SAFETY: as above; a pipe rather than a socket.
            unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) }
        } else {
            r
        }
    })
}

/// [`write_all`] with `write(2)` alone (no `send` tried first): for a process that blocks
/// SIGPIPE (the spawner and its shims), where a closed reader is only an EPIPE error.
pub fn write_all_sigpipe_blocked(fd: RawFd, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `b` is valid for reads of its length.
    write_each(bytes, |b| unsafe {
        libc::write(fd, b.as_ptr().cast(), b.len())
    })
}

/// Calls `once` (one system call's result: bytes written, or -1 with errno set) until all of
/// `bytes` is written, retrying on EINTR.
fn write_each(mut bytes: &[u8], mut once: impl FnMut(&[u8]) -> isize) -> io::Result<()> {
    while !bytes.is_empty() {
        let r = once(bytes);
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        bytes = &bytes[r as usize..];
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes from `fd` (blocking). `Ok(false)`: end of file before
/// the first byte.
pub fn read_exact(fd: RawFd, buf: &mut [u8]) -> io::Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        // SAFETY: the rest of `buf` is valid for writes of its length.
        let r = unsafe { libc::read(fd, buf[at..].as_mut_ptr().cast(), buf.len() - at) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            if at == 0 {
                return Ok(false);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        at += r as usize;
    }
    Ok(true)
}

/// Receives up to `buf.len()` bytes from stream socket `sock` and at most `max_fds`
/// descriptors sent with them (received close-on-exec). `(0, [])` at end of stream.
pub fn recv_with_fds(
    sock: RawFd,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let space = cmsg_space(max_fds);
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: `msg` and its buffers are live and writable for the call.
        let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `control` up to msg_controllen; the CMSG_* macros walk
    // only inside it, and each SCM_RIGHTS payload is an array of fresh descriptors that
    // we now own.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n, fds))
}

fn cmsg_space(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure computation.
    unsafe { libc::CMSG_SPACE((fds.max(1) * std::mem::size_of::<RawFd>()) as u32) as usize }
}

/// A connected pair of Unix stream sockets, both close-on-exec.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds points to two writable ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Takes ownership of descriptor `fd` given on the command line (the spawner's socket).
/// Returns `None` unless it is an open descriptor above 2.
pub fn adopt(fd: RawFd) -> Option<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor.
    if fd <= 2 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: an open descriptor handed to this process for it to own.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes every descriptor above 2 but `keep` (the spawner's start: what it inherited).
pub fn close_all_above_2_except(keep: RawFd) {
    close_all_above_2_but(&[keep]);
}

/// Closes every descriptor above 2 except those in `keep`.
pub fn close_all_above_2_but(keep: &[RawFd]) {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let open: Vec<RawFd> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect();
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: closing a descriptor this process inherited and nothing in it uses
            // (the directory's own descriptor is already closed: EBADF, harmless).
            unsafe { libc::close(fd) };
        }
    }
}

/// Shuts down the sending side of socket `fd` (the peer reads end of stream).
pub fn shutdown_write(fd: RawFd) {
    // SAFETY: shutdown(2) has no memory-safety preconditions.
    unsafe { libc::shutdown(fd, libc::SHUT_WR) };
}

/// Whether descriptor `fd` is open.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only queries the descriptor.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Whether `fd` is a terminal.
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only queries the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Whether `fd` is a terminal, a pipe or a socket (what a hangup can break).
pub fn is_console_like(fd: RawFd) -> bool {
    // SAFETY: a zeroed stat is valid; fstat writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is live and writable.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    let kind = st.st_mode & libc::S_IFMT;
    kind == libc::S_IFCHR || kind == libc::S_IFIFO || kind == libc::S_IFSOCK
}

/// Points `target` (0, 1 or 2) at `/dev/null`: writes there then succeed and are dropped.
pub fn redirect_to_null(target: RawFd) {
    if let Ok(null) = dev_null() {
        // SAFETY: dup2 onto a standard descriptor this process owns.
        unsafe { libc::dup2(null.as_raw_fd(), target) };
    }
}
