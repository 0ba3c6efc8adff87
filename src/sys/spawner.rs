//! The spawner: a small process secflow execs at start-up (its own binary, entered through
//! [`ENTRY`] before any other initialisation) that starts every tool of the run.
//!
//! Why a separate process: Linux folds the peak RSS of the address space a process leaves
//! at `execve` into its `ru_maxrss`, so a tool forked from secflow (or `posix_spawn`ed)
//! reports secflow's peak as its own. The spawner stays at a couple of megabytes; each
//! attempt's [`shim`](super::shim) is a fork of it and each tool a fork of that.
//!
//! Protocol, over a Unix stream socket: secflow sends length-prefixed requests. A shims
//! request asks for `n` new shims: the spawner forks each and sends back its end of the
//! shim's socket and a pidfd of it (made while the shim is an unreaped child, so it can
//! never name a recycled pid). secflow then hands attempts to those shims itself, with no
//! hop through the spawner (one process wake-up and a dozen system calls fewer per
//! attempt): a spawn request carries the tool's stdout and stderr pipes and a report socket
//! as `SCM_RIGHTS`; the shim writes its [`Report`](super::shim::Report) records to the
//! report socket, so secflow never waits for a tool to reach `execve`. Terminate and kill go
//! to the attempt's shim through its pidfd, only while secflow has not read the attempt's
//! end (a signal that arrives after it is dropped by the shim before its next attempt).
//! The spawner still reaps the shims and ends what a shim that died left behind.
//!
//! The spawner is a child subreaper with all signals blocked (read through a signalfd). When
//! secflow goes away (end of stream on the socket, or its parent-death signal), it tells
//! every shim to kill its tree, ends whatever is left under itself and exits.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::shim::{self, Launch, Report};
use super::{fd, misc, proc, rusage, signals};

/// `argv[1]` of the spawner's process: `secflow <ENTRY> <socket fd> <secflow pid> <nofile>`.
pub const ENTRY: &str = "--secflow-internal-spawner";

/// Whether an attempt that starts alone runs as the spawner's own child (SPEC §10's
/// shim-free path). Measured on CHAIN-1000 once shims were pooled: a pooled shim, 1.36 s;
/// shim-free, 1.46 s (a fork of the spawner costs more than a warm shim's fork of the tool).
/// So off; kept for a machine where the balance is the other way.
const SHIM_FREE: bool = false;

/// The socket's descriptor number in the spawner.
const SOCKET_FD: RawFd = 3;

const SPAWN: u8 = b'S';
/// Kill attempt `id` (any other kind but these asks to terminate it).
const KILL: u8 = b'K';
const SHIMS: u8 = b'N';

/// Most shims asked for at once: a pool grows by doubling up to this per request.
const MAX_BATCH: usize = 16;

/// Largest request accepted (argv and environment together are bounded by the kernel's
/// ARG_MAX, 2 MiB by default, well below this).
const MAX_REQUEST: usize = 64 << 20;

/// What secflow asks the spawner to start.
pub struct Program<'a> {
    /// Absolute path of the executable (already looked up in `PATH`).
    pub path: &'a Path,
    /// argv, `argv[0]` included.
    pub argv: &'a [OsString],
    pub env: &'a [(OsString, OsString)],
    pub cwd: &'a Path,
    /// How long leftovers get between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How secflow reaches its spawner.
pub struct Spawner {
    socket: Mutex<OwnedFd>,
    next_id: AtomicU64,
    pid: i32,
    pool: Mutex<Pool>,
}

/// The shims secflow hands attempts to directly.
#[derive(Default)]
struct Pool {
    idle: Vec<ShimConn>,
    /// Attempt id → the shim running it (until secflow read the attempt's end).
    busy: HashMap<u64, ShimConn>,
    /// Shims received so far.
    made: usize,
}

/// secflow's end of a shim's socket, and a pidfd of the shim.
struct ShimConn {
    socket: OwnedFd,
    pidfd: OwnedFd,
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

/// Which request to send about a running attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Terminate,
    Kill,
}

/// The process's spawner, started on first use (call it early, from the main thread: the
/// spawner's parent-death signal follows the thread that started it).
pub fn global() -> io::Result<Arc<Spawner>> {
    GLOBAL
        .get_or_init(|| Spawner::start().map(Arc::new).map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| io::Error::other(format!("cannot start the spawner process: {e}")))
}

static GLOBAL: OnceLock<Result<Arc<Spawner>, String>> = OnceLock::new();

/// Ends the process's spawner, if one was started: it sees the end of its socket, makes
/// sure nothing it started is left, and exits; waits (bounded) for that and reaps it, so
/// its usage (and the tools') counts as secflow's children's.
pub fn finish() {
    let Some(Ok(spawner)) = GLOBAL.get() else {
        return;
    };
    {
        // Idle shims see the end of their sockets and exit.
        let mut pool = spawner.pool.lock().unwrap_or_else(|p| p.into_inner());
        pool.idle.clear();
        pool.busy.clear();
    }
    {
        let socket = spawner.socket.lock().unwrap_or_else(|p| p.into_inner());
        fd::shutdown_write(socket.as_raw_fd());
    }
    let until = Instant::now() + Duration::from_secs(10);
    let mut looked = Instant::now();
    while Instant::now() < until {
        match rusage::try_wait(spawner.pid) {
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            _ => return,
        }
        // A tool may have stopped it (`kill -STOP`): it cannot end its shims then.
        if looked.elapsed() >= Duration::from_millis(20) {
            continue_if_stopped(spawner.pid);
            looked = Instant::now();
        }
    }
}

/// Sends SIGCONT to `pid` (the spawner, a shim) when `/proc` shows it stopped: a tool running
/// as the same user can stop it, not keep the run waiting on it.
fn continue_if_stopped(pid: i32) {
    if proc::stat(pid).is_some_and(|(state, _, _)| matches!(state, 'T' | 't')) {
        proc::kill(pid, libc::SIGCONT);
    }
}

impl Spawner {
    fn start() -> io::Result<Spawner> {
        use std::os::unix::process::CommandExt;
        let (ours, theirs) = fd::socketpair()?;
        let exe = std::env::current_exe()
            .ok()
            .filter(|p| p.exists())
            .unwrap_or_else(|| "/proc/self/exe".into());
        let theirs_fd = theirs.as_raw_fd();
        let mut cmd = std::process::Command::new(exe);
        cmd.arg(ENTRY)
            .arg(SOCKET_FD.to_string())
            .arg(proc::own_pid().to_string())
            .arg(NOFILE.load(Ordering::Relaxed).max(0).to_string())
            .env_clear()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .process_group(0);
        // SAFETY: the closure runs in the forked child before exec and only calls dup2 /
        // fcntl, which are async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if theirs_fd == SOCKET_FD {
                    if libc::fcntl(SOCKET_FD, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(theirs_fd, SOCKET_FD) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        drop(theirs);
        // Reaped by `finish` (by pid, with its rusage), not through `Child`.
        let pid = child.id() as i32;
        drop(child);
        Ok(Spawner {
            socket: Mutex::new(ours),
            next_id: AtomicU64::new(1),
            pid,
            pool: Mutex::new(Pool::default()),
        })
    }

    /// Asks the spawner for `n` new shims and receives them (blocking: a fork each).
    fn new_shims(&self, n: usize) -> io::Result<Vec<ShimConn>> {
        let mut frame = Vec::with_capacity(13);
        frame.extend_from_slice(&9u32.to_le_bytes());
        frame.push(SHIMS);
        frame.extend_from_slice(&(n as u64).to_le_bytes());
        let socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        fd::send_with_fds(socket.as_raw_fd(), &frame, &[]).map_err(gone)?;
        let mut got = Vec::with_capacity(n);
        let mut failed = None;
        for _ in 0..n {
            self.await_reply(socket.as_raw_fd());
            let mut reply = [0u8; 8];
            let (len, fds) = fd::recv_with_fds(socket.as_raw_fd(), &mut reply, 2).map_err(gone)?;
            if len == 0 {
                return Err(gone(io::Error::from(io::ErrorKind::UnexpectedEof)));
            }
            if len < reply.len() && !fd::read_exact(socket.as_raw_fd(), &mut reply[len..])? {
                return Err(gone(io::Error::from(io::ErrorKind::UnexpectedEof)));
            }
            let errno = i32::from_le_bytes([reply[4], reply[5], reply[6], reply[7]]);
            let mut fds = fds.into_iter();
            match (errno, fds.next(), fds.next()) {
                (0, Some(socket), Some(pidfd)) => got.push(ShimConn { socket, pidfd }),
                (errno, ..) => failed = Some(errno.max(libc::EIO)),
            }
        }
        match (got.is_empty(), failed) {
            (true, Some(errno)) => Err(io::Error::from_raw_os_error(errno)),
            _ => Ok(got),
        }
    }

    /// Waits until the spawner's reply on `socket` can be read. The spawner runs as the
    /// tools' user, so a tool can `kill -STOP` it, which hung the run right here (and made
    /// it deaf to SIGTERM: this runs on the engine's thread); a stopped spawner is continued.
    fn await_reply(&self, socket: RawFd) {
        while !super::signals::poll_readable(&[socket], Some(Duration::from_millis(20)))[0] {
            continue_if_stopped(self.pid);
        }
    }

    /// Asks for `program` to start with `stdout`/`stderr` (write ends) as its output. Returns
    /// the attempt's id and secflow's end of its report channel (non-blocking).
    pub fn spawn(
        &self,
        program: &Program<'_>,
        stdout: RawFd,
        stderr: RawFd,
    ) -> io::Result<(u64, OwnedFd)> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_spawn(id, program)?;
        let (report_r, report_w) = fd::report_pair()?;
        let fds = [stdout, stderr, report_w.as_raw_fd()];
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let mut fresh = false;
        loop {
            let Some(conn) = pool.idle.pop() else {
                if fresh {
                    return Err(gone(io::Error::from_raw_os_error(libc::EPIPE)));
                }
                let batch = pool.made.clamp(1, MAX_BATCH);
                let shims = self.new_shims(batch)?;
                pool.made += shims.len();
                pool.idle.extend(shims);
                fresh = true;
                continue;
            };
            // A shim that is gone (its socket closed) is dropped; the next one is tried.
            if fd::send_with_fds(conn.socket.as_raw_fd(), &frame, &fds).is_ok() {
                pool.busy.insert(id, conn);
                return Ok((id, report_r));
            }
        }
    }

    /// Attempt `id` is over (secflow read its end): its shim takes the next attempt.
    pub fn release(&self, id: u64) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(conn) = pool.busy.remove(&id) {
            pool.idle.push(conn);
        }
    }

    /// Attempt `id` is abandoned without its end read (after a kill request, or it never
    /// started): its shim is not reused; at the end of its socket (closed here) it exits
    /// once the attempt is over. A no-op for a released attempt.
    pub fn forget(&self, id: u64) {
        let conn = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            pool.busy.remove(&id)
        };
        drop(conn);
    }

    /// Asks attempt `id`'s shim to terminate (TERM, grace, KILL) or kill its tree.
    pub fn stop(&self, id: u64, how: Stop) {
        use std::os::fd::AsFd;
        let pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        // Not busy: its end was read, nothing of it is left to stop.
        if let Some(conn) = pool.busy.get(&id) {
            let signal = if how == Stop::Kill {
                shim::KILL
            } else {
                shim::TERMINATE
            };
            proc::pidfd_kill(conn.pidfd.as_fd(), signal);
            // A tool may have stopped its shim (`kill -STOP $PPID`): the request must still
            // be carried out, so the shim is continued.
            proc::pidfd_kill(conn.pidfd.as_fd(), libc::SIGCONT);
        }
    }
}

/// The soft open-descriptor limit secflow was started with, restored in every tool.
pub static NOFILE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn gone(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("the spawner process is gone ({e})"))
}

fn encode_spawn(id: u64, p: &Program<'_>) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; 4];
    out.push(SPAWN);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(p.grace.as_millis() as u64).to_le_bytes());
    out.extend_from_slice(&(p.argv.len() as u32).to_le_bytes());
    out.extend_from_slice(&(p.env.len() as u32).to_le_bytes());
    let mut put = |parts: &[&[u8]]| -> io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        out.extend_from_slice(&(len as u32).to_le_bytes());
        for part in parts {
            if part.contains(&0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("NUL byte in {:?}", String::from_utf8_lossy(part)),
                ));
            }
            out.extend_from_slice(part);
        }
        Ok(())
    };
    put(&[p.path.as_os_str().as_bytes()])?;
    put(&[p.cwd.as_os_str().as_bytes()])?;
    for a in p.argv {
        put(&[a.as_bytes()])?;
    }
    for (k, v) in p.env {
        if k.is_empty() || k.as_bytes().contains(&b'=') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid environment variable name {k:?}"),
            ));
        }
        put(&[k.as_bytes(), b"=", v.as_bytes()])?;
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_le_bytes());
    Ok(out)
}

/// A request as the spawner reads it.
pub(super) enum Request {
    Spawn {
        id: u64,
        launch: Launch,
        fds: Vec<OwnedFd>,
        /// The request as received, to pass on to a shim.
        raw: Vec<u8>,
    },
    Stop {
        id: u64,
        kill: bool,
    },
    /// `count` new shims for secflow to use directly.
    Shims {
        count: u64,
    },
}

fn decode(body: &[u8], fds: Vec<OwnedFd>, nofile: Option<u64>, raw: Vec<u8>) -> Option<Request> {
    let (&kind, rest) = body.split_first()?;
    let id = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    if kind == SHIMS {
        return Some(Request::Shims { count: id });
    }
    if kind != SPAWN {
        return Some(Request::Stop {
            id,
            kill: kind == KILL,
        });
    }
    let mut at = 8;
    let u32_at = |at: &mut usize| -> Option<u32> {
        let v = u32::from_le_bytes(rest.get(*at..*at + 4)?.try_into().ok()?);
        *at += 4;
        Some(v)
    };
    let grace = u64::from_le_bytes(rest.get(8..16)?.try_into().ok()?);
    at += 8;
    let argc = u32_at(&mut at)? as usize;
    let envc = u32_at(&mut at)? as usize;
    let mut strings = Vec::with_capacity(argc + envc + 2);
    while at < rest.len() {
        let len = u32_at(&mut at)? as usize;
        strings.push(CString::new(rest.get(at..at + len)?).ok()?);
        at += len;
    }
    if strings.len() != argc + envc + 2 {
        return None;
    }
    let mut strings = strings.into_iter();
    let path = strings.next()?;
    let cwd = strings.next()?;
    let argv: Vec<CString> = strings.by_ref().take(argc).collect();
    let env: Vec<CString> = strings.collect();
    Some(Request::Spawn {
        id,
        launch: Launch {
            path,
            argv,
            env,
            cwd,
            grace: Duration::from_millis(grace),
            nofile,
        },
        fds,
        raw,
    })
}

/// Runs the spawner if this process was started as one (`argv[1]` is [`ENTRY`]); else
/// returns at once. Called first thing in `main`.
pub fn enter_if_spawner() {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() != Some(OsStr::new(ENTRY)) {
        return;
    }
    let mut num = || -> i64 {
        args.next()
            .and_then(|a| a.to_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };
    let (socket, parent, nofile) = (num(), num(), num());
    // Out of the tools' reach (they run as the same user): no ptrace, no `pidfd_getfd`, no
    // `/proc/<pid>/{fd,mem,environ}` of the spawner or of the shims, which inherit this.
    // A tool that could reach its shim could write its own end or stop its containment.
    // (Each tool is dumpable again once it execs.)
    let _ = super::process_guard::set_undumpable();
    let code = match fd::adopt(socket as RawFd) {
        Some(socket) => serve(socket, parent as i32, (nofile > 0).then_some(nofile as u64)),
        None => {
            eprintln!("secflow: {ENTRY} is internal: started by `secflow run-workflow` only");
            2
        }
    };
    std::process::exit(code);
}

/// The spawner's loop: requests in, shims out, until secflow goes away.
fn serve(socket: OwnedFd, parent: i32, nofile: Option<u64>) -> i32 {
    // 0-2 stay taken, so descriptors received later are above 2 (see shim::exec_tool).
    for fd in 0..3 {
        if !fd::is_open(fd) {
            fd::redirect_to_null(fd);
        }
    }
    // Tools get stdin, stdout and stderr and nothing else: not the socket (a tool could
    // send requests), not what secflow's own parent left open.
    let _ = fd::set_cloexec(socket.as_raw_fd(), true);
    fd::close_all_above_2_except(socket.as_raw_fd());
    signals::reset_ignored_sigchld();
    signals::set_mask(&signals::SigSet::all());
    // Opened once here, inherited by every shim (one open fewer per attempt).
    let _ = fd::dev_null();
    let _ = misc::set_child_subreaper();
    misc::set_parent_death_signal(libc::SIGTERM);
    let watched = signals::SigSet::of(&[
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGQUIT,
    ]);
    let Ok(sigfd) = signals::signalfd(&watched) else {
        return 1;
    };
    let mut shims = Shims {
        nofile,
        ..Shims::default()
    };
    let mut direct: Option<Direct> = None;
    let mut running = misc::parent_pid() == parent;
    while running {
        let timeout = direct
            .as_ref()
            .and_then(|d| d.next)
            .map(|t| t.saturating_duration_since(Instant::now()));
        let busy: Vec<(i32, RawFd)> = shims.busy_sockets();
        let mut fds = vec![socket.as_raw_fd(), sigfd.as_raw_fd()];
        fds.extend(busy.iter().map(|&(_, fd)| fd));
        let ready = signals::poll_readable(&fds, timeout);
        for (k, &(pid, fd)) in busy.iter().enumerate() {
            if ready[2 + k] {
                shims.heard_from(pid, fd);
            }
        }
        if ready[1] {
            if signals::drain_signalfd(sigfd.as_raw_fd())
                .iter()
                .any(|&s| s != libc::SIGCHLD)
            {
                running = false;
            }
            reap(&mut shims, direct.is_some(), true);
        }
        if let Some(d) = direct.as_mut()
            && d.advance(&shims)
        {
            direct = None;
        }
        if ready[0] {
            match read_request(socket.as_raw_fd(), nofile) {
                Some(Request::Spawn {
                    id,
                    launch,
                    fds,
                    raw,
                }) => {
                    reap(&mut shims, direct.is_some(), false);
                    // Alone, the tool can be the spawner's own child: every process
                    // re-parented to the spawner is then one of its descendants.
                    if SHIM_FREE && direct.is_none() && shims.busy.is_empty() {
                        direct = Direct::start(id, &launch, fds);
                    } else {
                        shims.dispatch(id, &raw, fds, &socket, &sigfd);
                    }
                }
                Some(Request::Shims { count }) => {
                    reap(&mut shims, direct.is_some(), false);
                    for _ in 0..count.min(MAX_BATCH as u64) {
                        shims.give(&socket, &sigfd);
                    }
                }
                Some(Request::Stop { id, kill }) => match direct.as_mut() {
                    Some(d) if d.id == id => d.stop(kill, &shims),
                    _ => {
                        if let Some(&pid) = shims.busy.get(&id) {
                            proc::kill(pid, if kill { shim::KILL } else { shim::TERMINATE });
                            // A tool may have stopped its shim (`kill -STOP $PPID`): the
                            // request must still be carried out, so the shim is continued.
                            proc::kill(pid, libc::SIGCONT);
                        }
                    }
                },
                None => running = false,
            }
        }
    }
    if let Some(mut d) = direct {
        d.stop(true, &shims);
        while !d.advance(&shims) {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    shut_down(&mut shims);
    0
}

/// The spawner's shims: each runs one attempt at a time and is reused, so an attempt costs
/// no fork of a shim (and none of the page faults of a fresh one) once the pool is warm.
#[derive(Default)]
struct Shims {
    /// Attempt id → the shim running it.
    busy: HashMap<u64, i32>,
    /// Shims handed to secflow (it holds their sockets and sends them attempts itself).
    given: std::collections::BTreeSet<i32>,
    /// Every live shim's socket (the spawner's end).
    sockets: HashMap<i32, OwnedFd>,
    idle: Vec<i32>,
    /// The soft open-file limit tools start with.
    nofile: Option<u64>,
}

impl Shims {
    fn pids(&self) -> std::collections::BTreeSet<i32> {
        let mut pids: std::collections::BTreeSet<i32> = self.sockets.keys().copied().collect();
        pids.extend(&self.given);
        pids
    }

    /// Forks a shim for secflow and sends it its socket and a pidfd of the shim (made now,
    /// while the shim is an unreaped child); or the errno of what failed.
    fn give(&mut self, socket: &OwnedFd, sigfd: &OwnedFd) {
        let reply = |errno: i32, fds: &[RawFd]| {
            let mut frame = [SHIMS, 0, 0, 0, 0, 0, 0, 0];
            frame[4..].copy_from_slice(&errno.to_le_bytes());
            let _ = fd::send_with_fds(socket.as_raw_fd(), &frame, fds);
        };
        let (pid, ours) = match self.fork_shim(socket, sigfd, false) {
            Ok(shim) => shim,
            Err(errno) => return reply(errno, &[]),
        };
        self.given.insert(pid);
        match proc::pidfd_open(pid) {
            Ok(pidfd) => reply(0, &[ours.as_raw_fd(), pidfd.as_raw_fd()]),
            // Without a way to signal it safely it is of no use: closing its socket ends it.
            Err(e) => reply(e.raw_os_error().unwrap_or(libc::EIO), &[]),
        }
    }

    fn busy_sockets(&self) -> Vec<(i32, RawFd)> {
        self.busy
            .values()
            .filter_map(|pid| self.sockets.get(pid).map(|s| (*pid, s.as_raw_fd())))
            .collect()
    }

    /// A busy shim wrote: its attempt is over (a byte), or it died (end of stream).
    fn heard_from(&mut self, pid: i32, socket: RawFd) {
        let mut byte = [0u8; 1];
        let done = matches!(fd::read_exact(socket, &mut byte), Ok(true));
        self.busy.retain(|_, p| *p != pid);
        if done {
            self.idle.push(pid);
        } else {
            self.sockets.remove(&pid);
        }
    }

    /// Hands attempt `id` to an idle shim, or to a new one.
    fn dispatch(
        &mut self,
        id: u64,
        raw: &[u8],
        fds: Vec<OwnedFd>,
        socket: &OwnedFd,
        sigfd: &OwnedFd,
    ) {
        let raw_fds: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        while let Some(pid) = self.idle.pop() {
            if let Some(s) = self.sockets.get(&pid)
                && fd::send_with_fds(s.as_raw_fd(), raw, &raw_fds).is_ok()
            {
                self.busy.insert(id, pid);
                return;
            }
            self.sockets.remove(&pid);
        }
        match self.fork_shim(socket, sigfd, true) {
            Ok((pid, ours)) => {
                let sent = fd::send_with_fds(ours.as_raw_fd(), raw, &raw_fds).is_ok();
                self.sockets.insert(pid, ours);
                if sent {
                    self.busy.insert(id, pid);
                    return;
                }
                not_started(&fds, libc::EPIPE);
            }
            Err(errno) => not_started(&fds, errno),
        }
    }

    /// Forks a new shim, connected by a socket pair: returns its pid and the other end.
    /// `notify`: the shim tells the spawner when an attempt is over (a byte on its socket);
    /// a shim secflow drives itself does not.
    fn fork_shim(
        &mut self,
        socket: &OwnedFd,
        sigfd: &OwnedFd,
        notify: bool,
    ) -> Result<(i32, OwnedFd), i32> {
        let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
        let (ours, theirs) = fd::socketpair().map_err(errno)?;
        // SAFETY: the spawner is single-threaded, so the child may run any code; it runs the
        // shim, which never returns.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // The shim lives on: it must hold none of the spawner's descriptors (secflow's
            // socket, other shims' sockets, the pipes of the attempt being dispatched, whose
            // end of file would wait for it), only its socket and /dev/null.
            let _ = (socket, sigfd);
            let mut keep = vec![theirs.as_raw_fd()];
            keep.extend(fd::dev_null().ok().map(|n| n.as_raw_fd()));
            fd::close_all_above_2_but(&keep);
            shim::serve(theirs, self.nofile, notify);
        }
        if pid < 0 {
            return Err(errno(io::Error::last_os_error()));
        }
        Ok((pid, ours))
    }
}

/// Tells secflow an attempt could not start (no shim could be made for it).
fn not_started(fds: &[OwnedFd], errno: i32) {
    if let Some(report) = fds.get(2) {
        let step = shim::STEP_FORK;
        let _ = fd::write_all(
            report.as_raw_fd(),
            &Report::NotStarted { step, errno }.encode(),
        );
        let _ = fd::write_all(report.as_raw_fd(), &Report::Lost { errno }.encode());
    }
}

/// Reads one request; `None` at end of stream or on a malformed one.
pub(super) fn read_request(socket: RawFd, nofile: Option<u64>) -> Option<Request> {
    let mut head = [0u8; 4];
    let (n, fds) = fd::recv_with_fds(socket, &mut head, 3).ok()?;
    if n == 0 {
        return None;
    }
    if n < 4 && !fd::read_exact(socket, &mut head[n..]).ok()? {
        return None;
    }
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_REQUEST {
        return None;
    }
    let mut raw = vec![0u8; 4 + len];
    raw[..4].copy_from_slice(&head);
    if !fd::read_exact(socket, &mut raw[4..]).ok()? {
        return None;
    }
    let body = raw[4..].to_vec();
    decode(&body, fds, nofile, raw)
}

/// An attempt whose tool the spawner runs itself, without a shim: the common path of a
/// chain (one attempt at a time), one fork fewer per attempt. Only while no shim runs can
/// it start, so every process re-parented to the spawner meanwhile is one of its
/// descendants; attempts that start while it runs get shims (their orphans go to them).
struct Direct {
    id: u64,
    tool: i32,
    report: OwnedFd,
    err_r: OwnedFd,
    tree: shim::Tree,
    reaped: Option<rusage::Reaped>,
    /// When to look again without a signal (a grace running out, leftovers to rescan).
    next: Option<Instant>,
}

impl Direct {
    fn start(id: u64, launch: &Launch, fds: Vec<OwnedFd>) -> Option<Direct> {
        let mut fds = fds.into_iter();
        let (Some(stdout), Some(stderr), Some(report)) = (fds.next(), fds.next(), fds.next())
        else {
            return None;
        };
        let send = |r: Report| {
            let _ = fd::write_all(report.as_raw_fd(), &r.encode());
        };
        match shim::start_tool(launch, stdout.as_raw_fd(), stderr.as_raw_fd()) {
            Err(errno) => {
                send(Report::NotStarted {
                    step: shim::STEP_FORK,
                    errno,
                });
                send(Report::Lost { errno });
                None
            }
            Ok((tool, err_r)) => {
                send(Report::Started { pid: tool });
                Some(Direct {
                    id,
                    tool,
                    report,
                    err_r,
                    tree: shim::Tree::new(tool, launch.grace),
                    reaped: None,
                    next: None,
                })
            }
        }
    }

    /// A terminate (TERM, grace, KILL) or kill request.
    fn stop(&mut self, kill: bool, shims: &Shims) {
        self.tree.except = shims.pids();
        let unreaped = self.reaped.is_none();
        if kill {
            self.tree.kill_now();
            self.tree.kill_wave(unreaped);
            self.next = Some(Instant::now() + Duration::from_millis(2));
        } else {
            self.tree.term_wave(unreaped);
            self.next = self.tree.deadline();
        }
    }

    /// Moves the attempt on; `true` once it is over and reported.
    fn advance(&mut self, shims: &Shims) -> bool {
        self.tree.except = shims.pids();
        if self.reaped.is_none() {
            match rusage::try_wait(self.tool) {
                Ok(Some(r)) => self.reaped = Some(r),
                Ok(None) => {
                    if self.tree.deadline().is_some_and(|d| Instant::now() >= d) {
                        self.tree.kill_wave(true);
                        self.next = Some(Instant::now() + Duration::from_millis(5));
                    }
                    return false;
                }
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(0);
                    let _ =
                        fd::write_all(self.report.as_raw_fd(), &Report::Lost { errno }.encode());
                    return true;
                }
            }
        }
        if let Some(wait) = self.tree.leftovers_step() {
            self.next = Some(Instant::now() + wait);
            return false;
        }
        let reaped = self.reaped.unwrap_or(rusage::Reaped {
            status: 0,
            usage: rusage::Usage::default(),
        });
        let mut out = Vec::with_capacity(2 * shim::RECORD);
        // The tool is gone: the pipe holds its failure report, or is at end of file.
        if let Some((step, errno)) = shim::exec_failure(&self.err_r) {
            out.extend_from_slice(&Report::NotStarted { step, errno }.encode());
        }
        out.extend_from_slice(
            &Report::Ended {
                status: reaped.status,
                usage: reaped.usage.merged(&self.tree.leftover_usage),
                killed: self.tree.killed(),
            }
            .encode(),
        );
        let _ = fd::write_all(self.report.as_raw_fd(), &out);
        true
    }
}

/// Reaps exited shims by pid. A shim that did not exit cleanly (killed) may have left its
/// tree to us, and a SIGCHLD that reaped no shim came from such an orphan: then every
/// child that is not a shim is ended and reaped by pid. `signalled`: called for a SIGCHLD
/// (else before a dispatch, where only a shim reaped here can have left orphans: an orphan
/// is re-parented before its shim's SIGCHLD, and its own exit sends one).
fn reap(shims: &mut Shims, direct: bool, signalled: bool) {
    let mut reaped = false;
    let mut abnormal = false;
    if signalled {
        // A shim stopped by its own tool (`kill -STOP $PPID`) could neither report nor end
        // the tool's tree: the SIGCHLD of its stop brings it here, and it is continued.
        for pid in shims.pids() {
            continue_if_stopped(pid);
        }
    }
    for pid in shims.pids() {
        match rusage::try_wait(pid) {
            Ok(None) => continue,
            Ok(Some(r)) => abnormal |= r.exit_code() != Some(0),
            Err(_) => {}
        }
        reaped = true;
        shims.sockets.remove(&pid);
        shims.given.remove(&pid);
        shims.idle.retain(|&p| p != pid);
        shims.busy.retain(|_, p| *p != pid);
    }
    // While an attempt runs without a shim, the spawner's other children are its own.
    if direct || (!abnormal && reaped) || (!signalled && !abnormal) {
        return;
    }
    let live = shims.pids();
    for pid in proc::children(proc::own_pid()) {
        if !live.contains(&pid) {
            for d in proc::descendants(pid) {
                proc::kill(d, libc::SIGKILL);
            }
            proc::kill(pid, libc::SIGKILL);
            let _ = rusage::try_wait(pid);
        }
    }
}

/// secflow is gone: every shim kills its tree (idle ones see the end of their socket and
/// exit); what is left after a while is killed here.
fn shut_down(shims: &mut Shims) {
    // secflow's shims may be running attempts: each kills its tree (an idle one exits at
    // the end of its socket, which secflow closed or took with it).
    for &pid in shims.busy.values().chain(&shims.given) {
        proc::kill(pid, shim::KILL);
    }
    shims.busy.clear();
    shims.idle.clear();
    let pids = shims.pids();
    // Closed: each shim reads the end of stream once its attempt is over, and exits.
    shims.sockets.clear();
    let until = Instant::now() + Duration::from_secs(5);
    let me = proc::own_pid();
    loop {
        for &pid in &pids {
            let _ = rusage::try_wait(pid);
        }
        let children = proc::children(me);
        if children.is_empty() {
            return;
        }
        if Instant::now() >= until {
            for pid in proc::descendants(me) {
                proc::kill(pid, libc::SIGKILL);
            }
            for pid in children {
                let _ = rusage::try_wait(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
