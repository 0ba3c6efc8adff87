//! The local executor: each attempt a tool started by the spawner process, through a
//! per-attempt shim that contains it (see [`crate::sys::spawner`] and [`crate::sys::shim`]).
//!
//! Guarantees: stdin is `/dev/null`; the environment is exactly the spec's; stdout/stderr
//! are pipes drained into the log files by [`capture::pump`]; the tool runs in its own
//! process group; when it exits (or is stopped) everything it left running — escaped
//! descendants included — gets SIGTERM, the node's `kill_grace`, then SIGKILL, so no attempt
//! leaves a process or a pipe behind. The figures come from the shim's `wait4`/rusage of
//! the tool and its descendants: CPU time, peak RSS (the tool's own, not secflow's), block
//! I/O, and how many left-over processes were ended.

use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::net::unix::pipe::Receiver;

use super::capture;
use super::executor::{AttemptSpec, BoxFuture, ExecError, Executor, ExitInfo, RunningAttempt};
use crate::sys::shim::{self, Report};
use crate::sys::spawner::{self, Spawner, Stop};

/// Runs attempts as local processes. Its `start` never waits for a tool to reach `execve`:
/// it sends the request to the spawner and resolves once the shim reports the tool's pid.
#[derive(Debug, Clone, Default)]
pub struct LocalExecutor;

impl LocalExecutor {
    pub fn new() -> Self {
        LocalExecutor
    }

    /// Starts the spawner now (from the calling thread, which should be the main one) so a
    /// failure shows before anything runs.
    pub fn start_spawner() -> std::io::Result<()> {
        spawner::global().map(drop)
    }

    /// Ends the spawner once no attempt runs any more (the end of a run): waits until it
    /// has made sure nothing it started is left, and reaps it.
    pub fn stop_spawner() {
        spawner::finish();
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
        let requested = request(&spec);
        Box::pin(async move {
            let attempt = watch(spec, requested?).await?;
            Ok(Box::new(attempt) as Box<dyn RunningAttempt>)
        })
    }
}

type Outcome = Result<ExitInfo, ExecError>;

/// How long output is still collected after the shim reported the end (every process of
/// the attempt is gone by then, so the pipes are at end of file unless a descriptor was
/// passed to a process outside the attempt).
const PIPE_LINGER: Duration = Duration::from_secs(2);

/// The attempt's end: the report reader and the output pumps, driven by whoever awaits
/// [`RunningAttempt::wait`] (the supervisor always does, so output never backs up).
type Watching = Pin<Box<dyn Future<Output = Outcome> + Send>>;

struct LocalAttempt {
    id: u64,
    pid: i32,
    spawner: Arc<Spawner>,
    /// Set once the shim reported the end: nothing is left to stop.
    over: Arc<AtomicBool>,
    started: (Instant, SystemTime),
    watching: Option<Watching>,
    done: Option<Outcome>,
}

/// A request sent to the spawner, before its shim reported.
struct Requested {
    id: u64,
    spawner: Arc<Spawner>,
    started: (Instant, SystemTime),
    report: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn request(spec: &AttemptSpec) -> Result<Requested, ExecError> {
    // The log files are made by the pumps on the first byte of output (SPEC §4).
    let name = spec.argv.first().cloned().unwrap_or_default();
    let spawn_err = |source| ExecError::Spawn {
        program: name.to_string_lossy().into_owned(),
        source: Arc::new(source),
    };
    let program = resolve_program(&name, &spec.env, &spec.cwd).map_err(spawn_err)?;
    let spawner = spawner::global().map_err(spawn_err)?;
    let (stdout, out_w) = crate::sys::fd::pipe().map_err(spawn_err)?;
    let (stderr, err_w) = crate::sys::fd::pipe().map_err(spawn_err)?;
    let (id, report) = spawner
        .spawn(
            &spawner::Program {
                path: &program,
                argv: &spec.argv,
                env: &spec.env,
                cwd: &spec.cwd,
                grace: spec.grace,
            },
            out_w.as_raw_fd(),
            err_w.as_raw_fd(),
        )
        .map_err(spawn_err)?;
    let started = (Instant::now(), SystemTime::now());
    // The tool holds the write ends now: ours must close for the pumps to see EOF.
    drop((out_w, err_w));
    Ok(Requested {
        id,
        spawner,
        started,
        report,
        stdout,
        stderr,
    })
}

/// Reads one report record; `None` at end of file (the shim or spawner is gone).
async fn next_report(report: &mut UnixStream) -> Option<Report> {
    let mut buf = [0u8; shim::RECORD];
    report.read_exact(&mut buf).await.ok()?;
    Report::decode(&buf)
}

/// Forgets an attempt's shim (see [`Spawner::forget`]) unless disarmed: a start that
/// failed or was dropped half-way never leaves a shim marked busy.
struct Abandon {
    spawner: Arc<Spawner>,
    id: u64,
    armed: bool,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if self.armed {
            self.spawner.forget(self.id);
        }
    }
}

/// Waits for the shim's first report (the tool's pid), then watches the attempt: output
/// pumps and the rest of the report, as one future.
async fn watch(spec: AttemptSpec, r: Requested) -> Result<LocalAttempt, ExecError> {
    let mut abandon = Abandon {
        spawner: Arc::clone(&r.spawner),
        id: r.id,
        armed: true,
    };
    let program = spec.argv.first().cloned().unwrap_or_default();
    let lost = |what: String| ExecError::Watch(what);
    let receivers =
        UnixStream::from_std(std::os::unix::net::UnixStream::from(r.report)).and_then(|rep| {
            let out = Receiver::from_owned_fd_unchecked(r.stdout)?;
            Ok((rep, out, Receiver::from_owned_fd_unchecked(r.stderr)?))
        });
    let (mut report, out_rx, err_rx) = match receivers {
        Ok(x) => x,
        Err(e) => {
            r.spawner.stop(r.id, Stop::Kill);
            return Err(lost(format!("cannot watch output pipes: {e}")));
        }
    };
    let pid = match next_report(&mut report).await {
        Some(Report::Started { pid }) => pid,
        Some(Report::NotStarted { step, errno }) => {
            return Err(ExecError::Spawn {
                program: program.to_string_lossy().into_owned(),
                source: Arc::new(shim::step_error(step, errno, &spec.cwd)),
            });
        }
        _ => return Err(lost("its shim or the spawner process is gone".into())),
    };
    let secrets = spec.secrets;
    let out_file = capture::LogFile::lazy(spec.stdout_path, spec.records.clone());
    let err_file = capture::LogFile::lazy(spec.stderr_path, spec.records);
    let over = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&over);
    let cwd = spec.cwd;
    let live = capture::live_node(&spec.node_id);
    let (spawner, id) = (Arc::clone(&r.spawner), r.id);
    let watching = async move {
        let ended = async {
            let (outcome, over) = ended(&mut report, &program, &cwd).await;
            if over {
                // Its shim is free for the next attempt.
                spawner.release(id);
            }
            flag.store(true, Ordering::Release);
            outcome
        };
        let pumps = async {
            tokio::join!(
                capture::pump(out_rx, out_file, Arc::clone(&secrets), live.clone()),
                capture::pump(err_rx, err_file, secrets, live),
            )
        };
        tokio::pin!(ended, pumps);
        let (info, pumped) = tokio::select! {
            info = &mut ended => {
                let pumped = tokio::time::timeout(PIPE_LINGER, &mut pumps).await.ok();
                (info, pumped)
            }
            pumped = &mut pumps => (ended.await, Some(pumped)),
        };
        match (info, pumped) {
            (Err(e), _) => Err(e),
            (Ok(info), None | Some((Ok(_), Ok(_)))) => Ok(info),
            (Ok(_), Some((Err(e), _) | (_, Err(e)))) => {
                Err(ExecError::Watch(format!("capturing output failed: {e}")))
            }
        }
    };
    // From here the attempt's own drop forgets it.
    abandon.armed = false;
    Ok(LocalAttempt {
        id: r.id,
        pid,
        spawner: r.spawner,
        over,
        started: r.started,
        watching: Some(Box::pin(watching)),
        done: None,
    })
}

/// Reads the shim's report to its end: how the tool ended, or why it never ran; and
/// whether the shim reported its end (it is then free for another attempt).
async fn ended(
    report: &mut UnixStream,
    program: &std::ffi::OsStr,
    cwd: &std::path::Path,
) -> (Result<ExitInfo, ExecError>, bool) {
    let mut not_started = None;
    loop {
        match next_report(report).await {
            Some(Report::NotStarted { step, errno }) => not_started = Some((step, errno)),
            Some(Report::Ended {
                status,
                usage,
                killed,
            }) => {
                if let Some((step, errno)) = not_started {
                    let e = ExecError::Spawn {
                        program: program.to_string_lossy().into_owned(),
                        source: Arc::new(shim::step_error(step, errno, cwd)),
                    };
                    return (Err(e), true);
                }
                let info = ExitInfo {
                    exit_code: crate::sys::rusage::exit_code(status),
                    signal: crate::sys::rusage::signal(status),
                    cpu_user: usage.user,
                    cpu_system: usage.system,
                    peak_rss_bytes: Some(usage.max_rss),
                    read_bytes: Some(usage.read_bytes),
                    write_bytes: Some(usage.write_bytes),
                    killed_descendants: Some(killed),
                    ..ExitInfo::default()
                };
                return (Ok(info), true);
            }
            Some(Report::Lost { errno }) => {
                let e = std::io::Error::from_raw_os_error(errno);
                let e = ExecError::Watch(format!("the attempt's shim lost it: {e}"));
                return (Err(e), true);
            }
            Some(Report::Started { .. }) => {}
            None => {
                let e = ExecError::Watch("its shim or the spawner process is gone".into());
                return (Err(e), false);
            }
        }
    }
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
        if !self.over.load(Ordering::Acquire) {
            self.spawner.stop(self.id, Stop::Terminate);
        }
    }

    fn kill(&mut self) {
        if !self.over.load(Ordering::Acquire) {
            self.spawner.stop(self.id, Stop::Kill);
        }
    }
}

impl Drop for LocalAttempt {
    fn drop(&mut self) {
        // Torn down unfinished (a run abandoned): nothing of it may keep running.
        if !self.over.load(Ordering::Acquire) {
            self.spawner.stop(self.id, Stop::Kill);
        }
        self.spawner.forget(self.id);
    }
}

/// `program` looked up in the child's `PATH` (see [`lookup_program`]), once per run for
/// each (`PATH`, working directory, program): a chain of the same tool paid a failing
/// `statx` per `PATH` directory before each attempt (9 on the development VM). A cached
/// path is checked again (one `statx`: still an executable file) before it is used; a
/// directory earlier in `PATH` that gains the program mid-run is not seen by the run.
fn resolve_program(
    program: &std::ffi::OsStr,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    cwd: &std::path::Path,
) -> std::io::Result<std::path::PathBuf> {
    use std::collections::HashMap;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::sync::Mutex;
    type Key = (OsString, PathBuf, OsString);
    static CACHE: Mutex<Option<HashMap<Key, PathBuf>>> = Mutex::new(None);
    /// Entries kept at most (the cache is emptied when full).
    const MAX: usize = 1024;
    if program.as_bytes().contains(&b'/') || program.is_empty() {
        return lookup_program(program, env, cwd);
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or_else(OsString::new, |(_, v)| v.clone());
    let key = (path, cwd.to_path_buf(), program.to_os_string());
    let cached = CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|c| c.get(&key).cloned());
    if let Some(found) = cached
        && is_executable_file(&found)
    {
        return Ok(found);
    }
    let found = lookup_program(program, env, cwd)?;
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    if cache.len() >= MAX {
        cache.clear();
    }
    cache.insert(key, found.clone());
    Ok(found)
}

fn is_executable_file(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `program` looked up in the child's `PATH` when it has no `/`, as `execvp` would: a
/// relative directory of `PATH` (an empty one is `.`) is taken from the child's working
/// directory `cwd`, and the working directory itself is never searched otherwise.
/// `NotFound` if no directory of `PATH` has it.
fn lookup_program(
    program: &std::ffi::OsStr,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    cwd: &std::path::Path,
) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
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
        if is_executable_file(&candidate) {
            return Ok(candidate);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "not found in PATH",
    ))
}

/// Waits for child `pid` and returns how it ended with the kernel's rusage of it and its
/// reaped descendants (used by the Slurm job wrapper, so both report the same figures).
pub fn wait_child(pid: i32) -> std::io::Result<ExitInfo> {
    let reaped = crate::sys::rusage::wait(pid)?;
    Ok(ExitInfo {
        exit_code: reaped.exit_code(),
        signal: reaped.signal(),
        cpu_user: reaped.usage.user,
        cpu_system: reaped.usage.system,
        peak_rss_bytes: Some(reaped.usage.max_rss),
        read_bytes: Some(reaped.usage.read_bytes),
        write_bytes: Some(reaped.usage.write_bytes),
        ..ExitInfo::default()
    })
}

/// secflow's own rusage: (user, system, peak RSS bytes).
pub fn self_usage() -> (Duration, Duration, u64) {
    let u = crate::sys::rusage::own().unwrap_or_default();
    (u.user, u.system, u.max_rss)
}
