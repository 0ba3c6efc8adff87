//! The local executor: each attempt a child process in its own process group.
//!
//! Guarantees: stdin is `/dev/null`; the environment is exactly the spec's; stdout/stderr
//! are pipes drained into the log files by [`capture::pump`]; the child is reaped with
//! `wait4` (woken by a pidfd, no polling) so its rusage — CPU time, peak RSS and block I/O of
//! the process and its reaped descendants — is recorded. When the group leader exits, any
//! process it left behind in its group is killed, so no attempt leaves an orphan holding
//! its pipes open.

use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::unix::AsyncFd;

use super::capture;
use super::executor::{AttemptSpec, BoxFuture, ExecError, Executor, ExitInfo, RunningAttempt};
use super::spawn;

/// Runs attempts as local processes. Its `start` never waits: the process is started when
/// `start` is called and the future it returns is ready at once (so the scheduler starts it
/// without a task hop).
#[derive(Debug, Clone, Default)]
pub struct LocalExecutor;

impl LocalExecutor {
    pub fn new() -> Self {
        LocalExecutor
    }
}

impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn start(
        &self,
        spec: AttemptSpec,
    ) -> BoxFuture<'_, Result<Box<dyn RunningAttempt>, ExecError>> {
        // Returns as soon as the child exists: it execs on its own (see `spawn`).
        let started = spawn(&spec).and_then(|spawned| watch(spec, spawned));
        Box::pin(std::future::ready(
            started.map(|a| Box::new(a) as Box<dyn RunningAttempt>),
        ))
    }
}

type Outcome = Result<ExitInfo, ExecError>;

/// How long output is still collected after the attempt's process group is gone, for
/// processes that escaped the group (setsid) and hold its pipes.
const PIPE_LINGER: Duration = Duration::from_secs(2);

/// The attempt's end: the reaper and the output pumps, driven by whoever awaits
/// [`RunningAttempt::wait`] (the supervisor always does, so output never backs up).
type Watching = Pin<Box<dyn Future<Output = Outcome> + Send>>;

struct LocalAttempt {
    pid: i32,
    /// Set once the leader is reaped: its pid (and group id) may then be reused, so no
    /// signal is sent after that.
    reaped: Arc<AtomicBool>,
    started: (Instant, SystemTime),
    watching: Option<Watching>,
    done: Option<Outcome>,
}

/// A spawned child before secflow watches it.
struct Spawned {
    child: spawn::Child,
    started: (Instant, SystemTime),
    stdout: OwnedFd,
    stderr: OwnedFd,
    out_file: std::fs::File,
    err_file: std::fs::File,
}

fn spawn(spec: &AttemptSpec) -> Result<Spawned, ExecError> {
    // The logs first: a tool never runs without a place for its output (and an attempt
    // that cannot start still has its two logs).
    let capture_err = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| ExecError::Capture {
            path,
            source: Arc::new(source),
        }
    };
    // Beneath the run directory's descriptor when there is one: never through a symlink.
    let create = |path: &std::path::Path| match &spec.records {
        Some(r) => r.open_file(path, crate::sys::dirfd::Mode::Truncate),
        None => std::fs::File::create(path),
    };
    let out_file = create(&spec.stdout_path).map_err(capture_err(&spec.stdout_path))?;
    let err_file = create(&spec.stderr_path).map_err(capture_err(&spec.stderr_path))?;
    let name = spec.argv.first().cloned().unwrap_or_default();
    let spawn_err = |source| ExecError::Spawn {
        program: name.to_string_lossy().into_owned(),
        source: Arc::new(source),
    };
    let program = resolve_program(&name, &spec.env, &spec.cwd).map_err(spawn_err)?;
    let (stdout, out_w) = spawn::pipe().map_err(spawn_err)?;
    let (stderr, err_w) = spawn::pipe().map_err(spawn_err)?;
    let stdio = spawn::Stdio {
        stdin: spawn::dev_null().map_err(spawn_err)?,
        stdout: out_w.as_raw_fd(),
        stderr: err_w.as_raw_fd(),
    };
    let child = spawn::spawn(
        &spawn::Program {
            path: &program,
            argv: &spec.argv,
            env: &spec.env,
            cwd: &spec.cwd,
        },
        &stdio,
    )
    .map_err(spawn_err)?;
    let started = (Instant::now(), SystemTime::now());
    // The child holds the write ends now: ours must close for the pumps to see EOF.
    drop((out_w, err_w));
    Ok(Spawned {
        child,
        started,
        stdout,
        stderr,
        out_file,
        err_file,
    })
}

/// Watches a spawned child: output pumps and the reaper, as one future.
fn watch(spec: AttemptSpec, spawned: Spawned) -> Result<LocalAttempt, ExecError> {
    use tokio::net::unix::pipe::Receiver;
    let Spawned {
        child,
        started,
        stdout,
        stderr,
        out_file,
        err_file,
    } = spawned;
    let pid = child.pid();
    // spawn::pipe made them: pipes, read ends, non-blocking.
    let receivers = Receiver::from_owned_fd_unchecked(stdout)
        .and_then(|o| Receiver::from_owned_fd_unchecked(stderr).map(|e| (o, e)));
    let (out_rx, err_rx) = match receivers {
        Ok(r) => r,
        Err(e) => {
            // Killed (the leader too, wherever its group is now): reaped at once.
            kill_group(pid, libc::SIGKILL);
            // SAFETY: `pid` is our unreaped child, so it cannot be anyone else's.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let mut child = child;
            let _ = child.wait();
            return Err(ExecError::Watch(format!("cannot watch output pipes: {e}")));
        }
    };
    let program = spec.argv.first().cloned().unwrap_or_default();
    let secrets = spec.secrets;
    // Where a failed write of the output is reported, with the file it names.
    let out_report = spec.records.clone().map(|r| (r, spec.stdout_path.clone()));
    let err_report = spec.records.map(|r| (r, spec.stderr_path));
    let reaped_flag = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&reaped_flag);
    let watching = async move {
        let reaped = reap(child, &program, &flag);
        let pumps = async {
            tokio::join!(
                capture::pump(out_rx, out_file, Arc::clone(&secrets), out_report),
                capture::pump(err_rx, err_file, secrets, err_report),
            )
        };
        tokio::pin!(reaped, pumps);
        let (info, pumped) = tokio::select! {
            info = &mut reaped => {
                // A process that left the group (setsid) may still hold the pipes: bounded.
                let pumped = tokio::time::timeout(PIPE_LINGER, &mut pumps).await.ok();
                (info, pumped)
            }
            pumped = &mut pumps => (reaped.await, Some(pumped)),
        };
        match (info, pumped) {
            (Err(e), _) => Err(e),
            (Ok(info), None | Some((Ok(_), Ok(_)))) => Ok(info),
            (Ok(_), Some((Err(e), _) | (_, Err(e)))) => {
                Err(ExecError::Watch(format!("capturing output failed: {e}")))
            }
        }
    };
    Ok(LocalAttempt {
        pid,
        reaped: reaped_flag,
        started,
        watching: Some(Box::pin(watching)),
        done: None,
    })
}

impl RunningAttempt for LocalAttempt {
    fn pid(&self) -> Option<u32> {
        Some(self.pid as u32)
    }

    fn job_id(&self) -> Option<String> {
        None
    }

    fn started(&self) -> (Instant, SystemTime) {
        self.started
    }

    fn wait(&mut self) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            // Dropped half-way (a timeout fired), the wait resumes where it was next time.
            if let Some(watching) = self.watching.as_mut() {
                let outcome = watching.await;
                self.watching = None;
                self.done = Some(outcome);
            }
            self.done
                .clone()
                .unwrap_or_else(|| Err(ExecError::Watch("no outcome".into())))
        })
    }

    fn terminate(&mut self) {
        if !self.reaped.load(Ordering::Acquire) {
            kill_group(self.pid, libc::SIGTERM);
        }
    }

    fn kill(&mut self) {
        if !self.reaped.load(Ordering::Acquire) {
            kill_group(self.pid, libc::SIGKILL);
        }
    }
}

/// `program` looked up in the child's `PATH` when it has no `/`, as `execvp` would: a
/// relative directory of `PATH` (an empty one is `.`) is taken from the child's working
/// directory `cwd`, and the working directory itself is never searched otherwise.
/// `NotFound` if no directory of `PATH` has it.
fn resolve_program(
    program: &std::ffi::OsStr,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    cwd: &std::path::Path,
) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if program.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "empty program name",
        ));
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(program.into());
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_os_str());
    for dir in std::env::split_paths(path.unwrap_or(std::ffi::OsStr::new("/usr/bin:/bin"))) {
        let candidate = cwd.join(dir).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "not found in PATH",
    ))
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub fn kill_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory-safety preconditions.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

/// Waits for `child` to exit without polling (pidfd, else a blocking thread), kills what it
/// left in its process group (that would hold the pipes open), and reaps it. The group is
/// killed while the leader is still a zombie: until the reap its pid, and so the group id,
/// cannot have been reused by another process. A child that could not run `program` ends
/// with [`ExecError::Spawn`].
async fn reap(
    mut child: spawn::Child,
    program: &std::ffi::OsStr,
    reaped: &AtomicBool,
) -> Result<ExitInfo, ExecError> {
    let pid = child.pid();
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 {
        // SAFETY: the syscall returned a fresh fd that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: `owned` is a valid open fd, owned by the AsyncFd until it is dropped.
        let registered =
            unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) };
        if let Ok(async_fd) = registered {
            let _ = async_fd.readable().await;
            kill_group(pid, libc::SIGKILL);
            // The process has exited: wait4 returns at once.
            let exit = child.wait();
            reaped.store(true, Ordering::Release);
            return ended(exit, pid, program);
        }
    }
    let exit = tokio::task::spawn_blocking(move || {
        wait_exited(pid);
        kill_group(pid, libc::SIGKILL);
        child.wait()
    })
    .await
    .map_err(|e| ExecError::Watch(e.to_string()))?;
    reaped.store(true, Ordering::Release);
    ended(exit, pid, program)
}

/// Blocks until child `pid` has exited, leaving it unreaped (a zombie).
fn wait_exited(pid: i32) {
    loop {
        // SAFETY: zeroed siginfo_t is valid; waitid writes into it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is live and writable; WNOWAIT leaves the child to be reaped later.
        let r = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

fn ended(
    exit: std::io::Result<spawn::Exit>,
    pid: i32,
    program: &std::ffi::OsStr,
) -> Result<ExitInfo, ExecError> {
    match exit {
        Ok(spawn::Exit::Ran(info)) => Ok(info),
        Ok(spawn::Exit::NotStarted(source)) => Err(ExecError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source: Arc::new(source),
        }),
        Err(err) => Err(ExecError::Watch(format!("wait4({pid}): {err}"))),
    }
}

/// Waits for child `pid` and returns how it ended with the kernel's rusage of it and its
/// reaped descendants (also used by the Slurm job wrapper, so both report the same figures).
pub fn wait_child(pid: i32) -> std::io::Result<ExitInfo> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage point to live, writable values.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let tv =
        |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000);
    Ok(ExitInfo {
        exit_code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        cpu_user: tv(usage.ru_utime),
        cpu_system: tv(usage.ru_stime),
        peak_rss_bytes: Some(usage.ru_maxrss.max(0) as u64 * 1024),
        read_bytes: Some(usage.ru_inblock.max(0) as u64 * 512),
        write_bytes: Some(usage.ru_oublock.max(0) as u64 * 512),
        ..ExitInfo::default()
    })
}

/// secflow's own rusage: (user, system, peak RSS bytes).
pub fn self_usage() -> (Duration, Duration, u64) {
    // SAFETY: zeroed rusage is valid; getrusage writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: usage points to a live, writable value.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv =
        |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.max(0) as u32) * 1000);
    (
        tv(usage.ru_utime),
        tv(usage.ru_stime),
        usage.ru_maxrss.max(0) as u64 * 1024,
    )
}
