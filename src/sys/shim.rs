//! The per-attempt shim: a child subreaper that starts one tool and leaves nothing behind.
//!
//! It runs in a single-threaded process forked from the spawner (small, so the tool's peak
//! RSS is its own). It forks the tool into its own process group (stdin `/dev/null`,
//! stdout/stderr the given pipes, the given working directory and environment, an empty
//! signal mask, default dispositions for [`RESET_SIGNALS`]), reports its pid at once, then
//! waits. Once the tool has exited — or on a terminate request (SIGUSR1 from the spawner)
//! — every remaining descendant, found through `/proc/<pid>/task/*/children` from the
//! shim down, gets SIGTERM once; they have the attempt's `kill_grace` to end, then SIGKILL,
//! rescanned until none is left. A kill request (SIGUSR2, also the shim's parent-death
//! signal) sends SIGKILL at once. Each child is reaped by its pid, never `waitpid(-1)`.
//! Last, the tool's wait status, the rusage of everything reaped (`RUSAGE_CHILDREN`: CPU,
//! peak RSS, block I/O of the tool and its descendants) and the number of descendants it
//! had to end go back to secflow as a [`Report`].

use std::collections::BTreeSet;
use std::ffi::{CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use super::proc;
use super::rusage::{self, Reaped, Usage};
use super::signals::{self, SigSet};

/// Signals whose disposition secflow or the spawner may have changed (SIGPIPE is ignored
/// by Rust's runtime, and an ignored disposition survives `execve`), reset to the default
/// in every tool.
pub const RESET_SIGNALS: [i32; 4] = [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGCHLD];

/// The shim asks its tree to end.
pub const TERMINATE: i32 = libc::SIGUSR1;
/// The shim kills its tree now (also its parent-death signal).
pub const KILL: i32 = libc::SIGUSR2;

/// The step of starting the tool that failed.
pub const STEP_PGID: u64 = 1;
pub const STEP_SIGNALS: u64 = 2;
pub const STEP_FDS: u64 = 3;
pub const STEP_CWD: u64 = 4;
pub const STEP_EXEC: u64 = 5;
pub const STEP_FORK: u64 = 6;

/// What to start.
#[derive(Debug, Clone)]
pub struct Launch {
    pub path: CString,
    pub argv: Vec<CString>,
    /// `KEY=VALUE` strings.
    pub env: Vec<CString>,
    pub cwd: CString,
    pub grace: Duration,
    /// The soft open-descriptor limit the tool starts with (secflow raises its own).
    pub nofile: Option<u64>,
}

/// One record of a shim's report (a fixed 64 bytes, so each write is atomic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The tool's process exists (it may still fail to exec).
    Started { pid: i32 },
    /// Starting the tool failed at `step` with `errno`; an `Ended` follows.
    NotStarted { step: u64, errno: i32 },
    /// Everything is over.
    Ended {
        status: i32,
        usage: Usage,
        killed: u64,
    },
    /// The shim lost its tool (a wait failed with `errno`).
    Lost { errno: i32 },
}

/// Size of one report record.
pub const RECORD: usize = 64;

impl Report {
    pub fn encode(&self) -> [u8; RECORD] {
        let f: [u64; 8] = match *self {
            Report::Started { pid } => [1, pid as u64, 0, 0, 0, 0, 0, 0],
            Report::NotStarted { step, errno } => [2, step, errno as u64, 0, 0, 0, 0, 0],
            Report::Ended {
                status,
                usage,
                killed,
            } => [
                3,
                status as u32 as u64,
                usage.user.as_micros() as u64,
                usage.system.as_micros() as u64,
                usage.max_rss,
                usage.read_bytes,
                usage.write_bytes,
                killed,
            ],
            Report::Lost { errno } => [4, errno as u64, 0, 0, 0, 0, 0, 0],
        };
        let mut out = [0u8; RECORD];
        for (i, v) in f.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8; RECORD]) -> Option<Report> {
        let f =
            |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        Some(match f(0) {
            1 => Report::Started { pid: f(1) as i32 },
            2 => Report::NotStarted {
                step: f(1),
                errno: f(2) as i32,
            },
            3 => Report::Ended {
                status: f(1) as u32 as i32,
                usage: Usage {
                    user: Duration::from_micros(f(2)),
                    system: Duration::from_micros(f(3)),
                    max_rss: f(4),
                    read_bytes: f(5),
                    write_bytes: f(6),
                },
                killed: f(7),
            },
            4 => Report::Lost { errno: f(1) as i32 },
            _ => return None,
        })
    }
}

/// The error for a failed start step, worded as before (the program's own error for
/// `execve`, the directory named for `chdir`).
pub fn step_error(step: u64, errno: i32, cwd: &Path) -> io::Error {
    let errno = io::Error::from_raw_os_error(errno);
    let context = |what: String| io::Error::new(errno.kind(), format!("{what}: {errno}"));
    match step {
        STEP_EXEC => errno,
        STEP_CWD => context(format!(
            "cannot change to working directory {}",
            cwd.display()
        )),
        STEP_PGID => context("setpgid".into()),
        STEP_SIGNALS => context("resetting signals".into()),
        STEP_FORK => context("fork".into()),
        _ => context("setting up stdio".into()),
    }
}

fn send(report: RawFd, r: Report) {
    // A secflow that went away reads nothing: the shim still ends its tree (SIGPIPE is
    // blocked in shims, inherited from the spawner).
    let _ = super::fd::write_all_sigpipe_blocked(report, &r.encode());
}

/// The shim's life (in a process forked from the spawner, signals blocked): attempts in
/// from its socket, one at a time — start the tool, contain it, report, tell the spawner
/// it is free (with `notify`; secflow, driving a shim itself, knows from the report) —
/// until the socket's other end closes. Never returns.
pub fn serve(socket: OwnedFd, nofile: Option<u64>, notify: bool) -> ! {
    let _ = super::misc::set_child_subreaper();
    super::misc::set_parent_death_signal(KILL);
    let stale = SigSet::of(&[TERMINATE, KILL]);
    while let Some(super::spawner::Request::Spawn { launch, fds, .. }) =
        super::spawner::read_request(socket.as_raw_fd(), nofile)
    {
        // A stop request for the previous attempt that came in after it ended.
        while signals::wait_for(&stale, Some(Duration::ZERO)).is_some() {}
        let mut fds = fds.into_iter();
        if let (Some(stdout), Some(stderr), Some(report)) = (fds.next(), fds.next(), fds.next()) {
            run_one(&launch, stdout, stderr, report);
        }
        if notify && super::fd::write_all(socket.as_raw_fd(), &[1]).is_err() {
            break;
        }
    }
    drop(socket);
    // SAFETY: ends this single-threaded process without running the spawner's exit path.
    unsafe { libc::_exit(0) }
}

/// One attempt: starts the tool, contains it, reports.
fn run_one(launch: &Launch, stdout: OwnedFd, stderr: OwnedFd, report: OwnedFd) {
    let report_fd = report.as_raw_fd();
    let started = start_tool(launch, stdout.as_raw_fd(), stderr.as_raw_fd());
    // The tool holds its copies: ours must close so secflow sees the end of its output.
    drop((stdout, stderr));
    match started {
        Err(errno) => {
            send(
                report_fd,
                Report::NotStarted {
                    step: STEP_FORK,
                    errno,
                },
            );
            send(report_fd, Report::Lost { errno });
        }
        Ok((pid, err_r)) => {
            // First the pid (secflow goes on at once), then whether the exec happened.
            send(report_fd, Report::Started { pid });
            if let Some((step, errno)) = exec_failure(&err_r) {
                send(report_fd, Report::NotStarted { step, errno });
            }
            // Read to its end: nothing is left to hold it open for.
            drop(err_r);
            let mut tree = Tree::new(pid, launch.grace);
            match tree.contain() {
                // The tool's own figures (its reaped descendants included) and those of
                // the leftovers reaped here: this shim runs many attempts in turn.
                Ok(reaped) => send(
                    report_fd,
                    Report::Ended {
                        status: reaped.status,
                        usage: reaped.usage.merged(&tree.leftover_usage),
                        killed: tree.killed(),
                    },
                ),
                Err(e) => send(
                    report_fd,
                    Report::Lost {
                        errno: e.raw_os_error().unwrap_or(0),
                    },
                ),
            }
        }
    }
}

/// Forks the tool. Returns its pid and the read end of a close-on-exec pipe on which it
/// reports a failed step (see [`exec_failure`]); `Err(errno)` if no process could be made.
pub(super) fn start_tool(l: &Launch, stdout: RawFd, stderr: RawFd) -> Result<(i32, OwnedFd), i32> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    let stdin = super::fd::dev_null().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    let (err_r, err_w) =
        super::fd::pipe_blocking().map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))?;
    // Built before the fork: the child only makes system calls.
    let argv: Vec<*const c_char> = l
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let envp: Vec<*const c_char> = l
        .env
        .iter()
        .map(|a| a.as_ptr())
        .chain([std::ptr::null()])
        .collect();
    let fds = [stdin.as_raw_fd(), stdout, stderr];
    // SAFETY: this process is single-threaded (a fork of the single-threaded spawner), so
    // the child may run any code; it only calls `exec_tool`, which never returns.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(errno());
    }
    if pid == 0 {
        exec_tool(l, &argv, &envp, fds, err_w.as_raw_fd());
    }
    drop(err_w);
    // Both sides set the group, so a signal to it right after this cannot miss the tool.
    // SAFETY: setpgid has no memory-safety preconditions.
    unsafe { libc::setpgid(pid, pid) };
    Ok((pid, err_r))
}

/// The step that failed and its errno, if the tool could not exec (end of file on the
/// pipe means the exec happened: it was close-on-exec). Blocks until one or the other.
pub(super) fn exec_failure(err_r: &OwnedFd) -> Option<(u64, i32)> {
    let mut buf = [0u8; 12];
    match super::fd::read_exact(err_r.as_raw_fd(), &mut buf) {
        Ok(true) => Some((
            u64::from_le_bytes(buf[..8].try_into().unwrap_or_default()),
            i32::from_le_bytes(buf[8..].try_into().unwrap_or_default()),
        )),
        _ => None,
    }
}

/// The tool's process between fork and exec: sets it up, execs, or reports the step that
/// failed on `err` and exits 127.
fn exec_tool(
    l: &Launch,
    argv: &[*const c_char],
    envp: &[*const c_char],
    fds: [RawFd; 3],
    err: RawFd,
) -> ! {
    let fail = |step: u64| -> ! {
        let errno = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        let mut buf = [0u8; 12];
        buf[..8].copy_from_slice(&step.to_le_bytes());
        buf[8..].copy_from_slice(&errno.to_le_bytes());
        // SAFETY: writes our own buffer, then ends this process.
        unsafe {
            libc::write(err, buf.as_ptr().cast(), buf.len());
            libc::_exit(127)
        }
    };
    // SAFETY (block): plain system calls on values this function owns or borrows for the
    // rest of its life; this process is a fork of a single-threaded one.
    unsafe {
        if libc::setpgid(0, 0) != 0 {
            fail(STEP_PGID);
        }
        for sig in RESET_SIGNALS {
            if libc::signal(sig, libc::SIG_DFL) == libc::SIG_ERR {
                fail(STEP_SIGNALS);
            }
        }
        for (target, &fd) in fds.iter().enumerate() {
            // The spawner keeps 0-2 open, so every given descriptor is above 2 and no
            // dup2 overwrites a later source; one already in place keeps close-on-exec off.
            let r = if fd == target as RawFd {
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, target as RawFd)
            };
            if r < 0 {
                fail(STEP_FDS);
            }
        }
        if let Some(soft) = l.nofile {
            super::limits::restore_nofile(soft);
        }
        if libc::chdir(l.cwd.as_ptr()) != 0 {
            fail(STEP_CWD);
        }
        signals::set_mask(&SigSet::empty());
        libc::execve(l.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
    }
    fail(STEP_EXEC)
}

/// The tool and everything under the subreaper that started it.
pub struct Tree {
    /// The subreaper (this process).
    root: i32,
    tool: i32,
    grace: Duration,
    /// Children of `root` whose subtrees belong to someone else (the spawner's shims).
    pub except: BTreeSet<i32>,
    /// Every process sent TERM or KILL (the tool included).
    signalled: BTreeSet<i32>,
    /// When the TERM wave went out.
    term_at: Option<Instant>,
    killing: bool,
    /// Backoff between scans while leftovers have their grace.
    step: Duration,
    /// Usage of the leftovers reaped here (the tool's own comes from its `wait4`).
    pub leftover_usage: Usage,
}

impl Tree {
    /// The tree of `tool`, a child of this process, which is a child subreaper.
    pub fn new(tool: i32, grace: Duration) -> Tree {
        Tree {
            root: proc::own_pid(),
            tool,
            grace,
            except: BTreeSet::new(),
            signalled: BTreeSet::new(),
            term_at: None,
            killing: false,
            step: Duration::from_millis(1),
            leftover_usage: Usage::default(),
        }
    }

    /// How many processes other than the tool had to be ended.
    pub fn killed(&self) -> u64 {
        self.signalled.iter().filter(|&&p| p != self.tool).count() as u64
    }

    /// Children of the subreaper that are this tree's.
    fn children(&self) -> Vec<i32> {
        let mut c = proc::children(self.root);
        c.retain(|p| !self.except.contains(p));
        c
    }

    /// Every process of this tree (the tool included while it runs).
    fn descendants(&self) -> Vec<i32> {
        let mut all = Vec::new();
        for child in self.children() {
            all.push(child);
            all.extend(proc::descendants(child));
        }
        all
    }

    /// Waits for the tool, obeying terminate/kill requests, then ends what it left.
    fn contain(&mut self) -> io::Result<Reaped> {
        let set = SigSet::of(&[libc::SIGCHLD, TERMINATE, KILL]);
        let reaped = loop {
            if let Some(r) = rusage::try_wait(self.tool)? {
                break r;
            }
            let timeout = match (self.killing, self.term_at) {
                (true, _) => Some(Duration::from_millis(5)),
                (false, Some(at)) => {
                    let left = (at + self.grace).saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.kill_wave(true);
                        continue;
                    }
                    Some(left)
                }
                (false, None) => None,
            };
            match signals::wait_for(&set, timeout) {
                Some(TERMINATE) => self.term_wave(true),
                Some(KILL) => self.kill_wave(true),
                _ => {}
            }
        };
        self.end_leftovers(&mut |pause| matches!(signals::wait_for(&set, Some(pause)), Some(KILL)));
        Ok(reaped)
    }

    /// TERM once to the tool's group (while the tool is unreaped: its pid is then still
    /// ours) and to every descendant outside it; scans again until no new one appears.
    /// The first scan comes before the group signal, so what is counted is what was
    /// running when the wave started.
    pub fn term_wave(&mut self, tool_unreaped: bool) {
        if self.term_at.is_some() {
            return;
        }
        self.term_at = Some(Instant::now());
        let first = self.live_descendants();
        if tool_unreaped {
            proc::kill_group(self.tool, libc::SIGTERM);
            self.signalled.insert(self.tool);
        }
        for (pid, pgid) in first {
            self.signalled.insert(pid);
            if !(tool_unreaped && pgid == self.tool) {
                proc::kill(pid, libc::SIGTERM);
            }
        }
        // Processes forked meanwhile (after the group signal): each its own TERM.
        for _ in 0..64 {
            let new: Vec<i32> = self
                .live_descendants()
                .into_iter()
                .map(|(pid, _)| pid)
                .filter(|pid| !self.signalled.contains(pid))
                .collect();
            if new.is_empty() {
                break;
            }
            for pid in new {
                self.signalled.insert(pid);
                proc::kill(pid, libc::SIGTERM);
            }
        }
    }

    /// Descendants that have not exited, with their process groups.
    fn live_descendants(&self) -> Vec<(i32, i32)> {
        self.descendants()
            .into_iter()
            .filter_map(|pid| match proc::stat(pid) {
                Some((state, _, pgid)) if state != 'Z' => Some((pid, pgid)),
                _ => None,
            })
            .filter(|&(pid, _)| pid != self.tool)
            .collect()
    }

    /// KILL to the tool's group (while unreaped) and every live descendant.
    pub fn kill_wave(&mut self, tool_unreaped: bool) {
        self.killing = true;
        if tool_unreaped {
            proc::kill_group(self.tool, libc::SIGKILL);
            self.signalled.insert(self.tool);
        }
        for pid in self.descendants() {
            if matches!(proc::stat(pid), Some((s, _, _)) if s != 'Z') {
                self.signalled.insert(pid);
                proc::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// After the tool is reaped: TERM what is left (unless a terminate already did), give it
    /// the grace, KILL what outlives it, reaping each child by pid until none is left.
    /// `pause(d)` waits up to `d` and says whether a kill was requested meanwhile.
    pub fn end_leftovers(&mut self, pause: &mut dyn FnMut(Duration) -> bool) {
        while let Some(wait) = self.leftovers_step() {
            if pause(wait) {
                self.killing = true;
            }
        }
    }

    /// One step of [`Tree::end_leftovers`], for a caller with a loop of its own: `None` once
    /// nothing is left, else how long to wait before the next step.
    pub fn leftovers_step(&mut self) -> Option<Duration> {
        // Every descendant is under a child: none left, nothing to scan (the common case;
        // no child at all is known without reading /proc).
        if self.term_at.is_none() && (!super::rusage::has_children() || self.children().is_empty())
        {
            return None;
        }
        self.term_wave(false);
        let deadline = self.term_at.unwrap_or_else(Instant::now) + self.grace;
        self.reap_children();
        let live = self.live_descendants();
        if live.is_empty() {
            self.reap_children();
            if self.children().is_empty() {
                return None;
            }
        } else if self.killing || Instant::now() >= deadline {
            self.kill_wave(false);
        }
        let wait = if self.killing {
            Duration::from_millis(2)
        } else {
            self.step
                .min(deadline.saturating_duration_since(Instant::now()))
        };
        self.step = (self.step * 2).min(Duration::from_millis(50));
        Some(wait.max(Duration::from_millis(1)))
    }

    /// When the grace of a TERM wave ends, once one went out.
    pub fn deadline(&self) -> Option<Instant> {
        self.term_at.map(|t| t + self.grace)
    }

    /// Marks the tree as being killed (a kill request while leftovers have their grace).
    pub fn kill_now(&mut self) {
        self.killing = true;
    }

    /// Reaps every exited child of this tree except the tool, each by its pid, adding its
    /// usage to [`Tree::leftover_usage`].
    fn reap_children(&mut self) {
        for pid in self.children() {
            if pid != self.tool
                && let Ok(Some(r)) = rusage::try_wait(pid)
            {
                self.leftover_usage = self.leftover_usage.merged(&r.usage);
            }
        }
    }
}
