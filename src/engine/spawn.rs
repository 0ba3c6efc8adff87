//! Starting an attempt's process: `clone(CLONE_VM | CLONE_VFORK)` then `execve`, the way
//! glibc's `posix_spawn` does, without what an attempt does not need.
//!
//! std's `Command` (through `posix_spawn`) copies the environment into a map and back into
//! C strings, maps a fresh stack for the child and unmaps it after (a TLB shootdown across
//! every thread of secflow), and has the child reset all 64 signal dispositions, up to two
//! system calls each. Here the caller's environment becomes one block of C strings, the
//! child runs on a stack in the parent's frame (the parent is suspended until the child
//! has exec'd), and only the signals secflow changes are reset: [`RESET_SIGNALS`].
//!
//! The child gets: its own process group (`setpgid(0, 0)`), the three given descriptors as
//! stdin/stdout/stderr and no other (every descriptor secflow opens is close-on-exec), the
//! given working directory, an empty signal mask and default dispositions for
//! [`RESET_SIGNALS`]. A step that fails is reported with its `errno`, naming the step, and
//! the half-started child is reaped.

use std::ffi::{OsStr, OsString, c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, Ordering};

/// Signals whose disposition secflow changes, reset to the default in every child:
/// SIGPIPE (ignored by Rust's runtime; an ignored disposition would survive `execve`),
/// SIGINT and SIGTERM (caught for cancellation; a handler must never run in the child
/// before it has exec'd). A caught signal is reset by `execve` anyway; resetting it first
/// closes the window between `clone` and `execve`.
pub const RESET_SIGNALS: [c_int; 3] = [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM];

/// The child's stack: it calls a handful of libc system-call wrappers, nothing deeper.
const CHILD_STACK: usize = 32 * 1024;

/// What the child runs: an absolute program, its argv and environment as given.
pub struct Program<'a> {
    /// Absolute path of the executable (already looked up in `PATH`).
    pub path: &'a Path,
    /// argv, `argv[0]` included (as the user wrote it).
    pub argv: &'a [OsString],
    pub env: &'a [(OsString, OsString)],
    pub cwd: &'a Path,
}

/// The child's stdin, stdout and stderr.
pub struct Stdio {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
}

/// `/dev/null` opened once, for every child's stdin.
pub fn dev_null() -> io::Result<RawFd> {
    static DEV_NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = DEV_NULL.get() {
        return Ok(fd.as_raw_fd());
    }
    let file = std::fs::File::open("/dev/null")?;
    Ok(DEV_NULL.get_or_init(|| OwnedFd::from(file)).as_raw_fd())
}

/// A pipe, both ends close-on-exec: (read end, set non-blocking; write end, blocking).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds points to two writable ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_SETFL on a valid descriptor; the read end has no other status flags.
    if unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((read, write))
}

/// The steps of the child, for the error message of the one that failed.
const STEP_PGID: i32 = 1;
const STEP_SIGNALS: i32 = 2;
const STEP_FDS: i32 = 3;
const STEP_CWD: i32 = 4;
const STEP_EXEC: i32 = 5;

/// Shared with the child, which runs in the parent's memory until it execs.
struct ChildArgs {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    fds: [RawFd; 3],
    /// The step that failed and its errno; left at 0 when `execve` succeeds.
    step: AtomicI32,
    errno: AtomicI32,
}

/// Starts `program` with `stdio`; returns its pid. The child is not reaped here.
pub fn spawn(program: &Program<'_>, stdio: &Stdio) -> io::Result<i32> {
    let block = CBlock::new(program)?;
    let args = ChildArgs {
        path: block.ptr(block.path),
        argv: block.argv.as_ptr(),
        envp: block.envp.as_ptr(),
        cwd: block.ptr(block.cwd),
        fds: [stdio.stdin, stdio.stdout, stdio.stderr],
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    // Uninitialised: the child writes before it reads, like any stack.
    let mut stack = std::mem::MaybeUninit::<ChildStack>::uninit();
    // SAFETY: one past the end of the stack buffer (stacks grow down), 16-byte aligned.
    let top = unsafe { stack.as_mut_ptr().cast::<u8>().add(CHILD_STACK) }.cast::<c_void>();

    // No handler of secflow's may run in the child: every signal is blocked around clone,
    // and the child resets the ones secflow catches before it unblocks them.
    // SAFETY: zeroed sigset_t values are valid; the calls only write through the pointers.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `child` only reads `args` and the C strings it points to, all alive until
    // clone returns, which with CLONE_VFORK is after the child has exec'd or exited; it
    // runs on `stack`, which nothing else uses meanwhile.
    let pid = unsafe {
        libc::clone(
            child,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::addr_of!(args).cast_mut().cast::<c_void>(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(clone_error);
    }
    let step = args.step.load(Ordering::Acquire);
    if step == 0 {
        return Ok(pid);
    }
    // The child failed before or at execve and has exited: reap it.
    let mut status = 0;
    // SAFETY: pid is our child; status is writable.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
    let errno = io::Error::from_raw_os_error(args.errno.load(Ordering::Acquire));
    Err(match step {
        STEP_EXEC => errno,
        STEP_CWD => io::Error::new(
            errno.kind(),
            format!(
                "cannot change to working directory {}: {errno}",
                program.cwd.display()
            ),
        ),
        STEP_PGID => io::Error::new(errno.kind(), format!("setpgid: {errno}")),
        STEP_SIGNALS => io::Error::new(errno.kind(), format!("resetting signals: {errno}")),
        _ => io::Error::new(errno.kind(), format!("setting up stdio: {errno}")),
    })
}

#[repr(C, align(16))]
struct ChildStack([u8; CHILD_STACK]);

/// The child, between clone and execve: only async-signal-safe system-call wrappers, no
/// allocation, no locks (it shares the parent's memory).
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive while the parent is suspended.
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    let fail = |step: i32| -> c_int {
        // SAFETY: __errno_location is this thread's errno.
        let errno = unsafe { *libc::__errno_location() };
        args.errno.store(errno, Ordering::Release);
        args.step.store(step, Ordering::Release);
        // SAFETY: _exit ends the child without running anything of the parent's.
        unsafe { libc::_exit(127) }
    };
    // SAFETY (block): plain system calls on values this function owns or `args` holds.
    unsafe {
        if libc::setpgid(0, 0) != 0 {
            return fail(STEP_PGID);
        }
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        for sig in RESET_SIGNALS {
            if libc::sigaction(sig, &dfl, std::ptr::null_mut()) != 0 {
                return fail(STEP_SIGNALS);
            }
        }
        for (target, &fd) in args.fds.iter().enumerate() {
            let target = target as c_int;
            // Rust's runtime keeps 0-2 open, so every descriptor given here is above 2
            // and no dup2 overwrites a later source; a descriptor already in place only
            // needs its close-on-exec flag cleared.
            let ok = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd, target) == target
            };
            if !ok {
                return fail(STEP_FDS);
            }
        }
        if libc::chdir(args.cwd) != 0 {
            return fail(STEP_CWD);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::execve(args.path, args.argv, args.envp);
    }
    fail(STEP_EXEC)
}

/// The program's strings as one block of NUL-terminated C strings, and the argv/envp
/// pointer arrays into it.
struct CBlock {
    bytes: Vec<u8>,
    path: usize,
    cwd: usize,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

impl CBlock {
    fn new(p: &Program<'_>) -> io::Result<CBlock> {
        let len = p.path.as_os_str().len()
            + p.cwd.as_os_str().len()
            + p.argv.iter().map(|a| a.len() + 1).sum::<usize>()
            + p.env
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>()
            + 2;
        let mut bytes = Vec::with_capacity(len);
        let mut push = |parts: &[&OsStr]| -> io::Result<usize> {
            let at = bytes.len();
            for part in parts {
                let part = part.as_bytes();
                if part.contains(&0) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("NUL byte in {:?}", String::from_utf8_lossy(part)),
                    ));
                }
                bytes.extend_from_slice(part);
            }
            bytes.push(0);
            Ok(at)
        };
        let path = push(&[p.path.as_os_str()])?;
        let cwd = push(&[p.cwd.as_os_str()])?;
        let argv_at = p
            .argv
            .iter()
            .map(|a| push(&[a]))
            .collect::<io::Result<Vec<_>>>()?;
        let env_at = p
            .env
            .iter()
            .map(|(k, v)| {
                if k.is_empty() || k.as_bytes().contains(&b'=') {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("invalid environment variable name {k:?}"),
                    ));
                }
                push(&[k, OsStr::new("="), v])
            })
            .collect::<io::Result<Vec<_>>>()?;
        // The block is complete: pointers into it stay valid (it is never grown again).
        let base = bytes.as_ptr().cast::<c_char>();
        // SAFETY: every offset was returned by `push`, inside `bytes`.
        let at = |i: usize| unsafe { base.add(i) };
        let argv = argv_at.into_iter().map(at).chain([std::ptr::null()]);
        let envp = env_at.into_iter().map(at).chain([std::ptr::null()]);
        Ok(CBlock {
            argv: argv.collect(),
            envp: envp.collect(),
            bytes,
            path,
            cwd,
        })
    }

    fn ptr(&self, at: usize) -> *const c_char {
        self.bytes[at..].as_ptr().cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Runs `/bin/sh` with `argv` and returns (pid, output).
    fn run(argv: &[&str], env: &[(&str, &str)], cwd: &Path) -> io::Result<(i32, String)> {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let env: Vec<(OsString, OsString)> = env
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let (read, write) = pipe()?;
        let pid = spawn(
            &Program {
                path: Path::new("/bin/sh"),
                argv: &argv,
                env: &env,
                cwd,
            },
            &Stdio {
                stdin: dev_null()?,
                stdout: write.as_raw_fd(),
                stderr: write.as_raw_fd(),
            },
        )?;
        drop(write);
        let mut out = String::new();
        let mut file = std::fs::File::from(read);
        loop {
            match file.read_to_string(&mut out) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        }
        let info = crate::engine::local::wait_child(pid)?;
        assert_eq!(info.exit_code, Some(0), "child output: {out}");
        Ok((pid, out))
    }

    #[test]
    fn child_has_its_group_env_cwd_stdin_and_clean_signal_state() {
        let dir = tempfile::tempdir().unwrap();
        let script = "echo pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$ argv0=$0 a=$A; pwd; \
                      grep -E '^(SigBlk|SigIgn)' /proc/self/status; \
                      wc -c </dev/stdin";
        let (pid, out) = run(
            &["my-sh", "-c", script],
            &[("A", "x y"), ("PATH", "/usr/bin:/bin")],
            dir.path(),
        )
        .unwrap();
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!("pgid={pid} pid={pid} argv0=my-sh a=x y")
        );
        assert_eq!(
            Path::new(lines.next().unwrap()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
        // No signal blocked; ignored only what this process was started with ignoring,
        // never SIGPIPE (which Rust's runtime ignores here).
        assert_eq!(lines.next().unwrap(), "SigBlk:\t0000000000000000");
        let ignored = |line: &str| {
            let hex = line.strip_prefix("SigIgn:\t").unwrap();
            u64::from_str_radix(hex, 16).unwrap()
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let ours = ignored(status.lines().find(|l| l.starts_with("SigIgn:")).unwrap());
        let reset = RESET_SIGNALS.iter().fold(0u64, |m, &s| m | 1 << (s - 1));
        assert_ne!(
            ours & (1 << (libc::SIGPIPE - 1)),
            0,
            "SIGPIPE is ignored here"
        );
        assert_eq!(ignored(lines.next().unwrap()), ours & !reset);
        // stdin is /dev/null.
        assert_eq!(lines.next().unwrap(), "0");
    }

    #[test]
    fn the_child_holds_the_given_descriptors_and_nothing_else_of_spawn() {
        let (read, write) = pipe().unwrap();
        let argv = ["sh", "-c", "echo ready; exec sleep 30"].map(OsString::from);
        let pid = spawn(
            &Program {
                path: Path::new("/bin/sh"),
                argv: &argv,
                env: &[],
                cwd: Path::new("/"),
            },
            &Stdio {
                stdin: dev_null().unwrap(),
                stdout: write.as_raw_fd(),
                stderr: write.as_raw_fd(),
            },
        )
        .unwrap();
        // The vfork parent resumes before the kernel has closed the child's close-on-exec
        // descriptors: look only once the child has said something after its exec.
        let mut file = std::fs::File::from(read.try_clone().unwrap());
        let mut byte = [0u8; 1];
        while !matches!(file.read(&mut byte), Ok(1)) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let fds: Vec<RawFd> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
            .collect();
        // SAFETY: kill and reap our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        crate::engine::local::wait_child(pid).unwrap();
        assert!(fds.starts_with(&[0, 1, 2]), "{fds:?}");
        // The parent's descriptors keep their numbers in the child: none of these is there.
        for fd in [read.as_raw_fd(), write.as_raw_fd(), dev_null().unwrap()] {
            assert!(!fds.contains(&fd), "fd {fd} leaked into the child: {fds:?}");
        }
    }

    #[test]
    fn failures_name_the_step_and_leave_no_child() {
        let missing = Path::new("/nonexistent/secflow-dir");
        let err = run(&["sh", "-c", "true"], &[], missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains("/nonexistent/secflow-dir"),
            "{err}"
        );

        let argv = [OsString::from("x")];
        let err = spawn(
            &Program {
                path: Path::new("/nonexistent/program"),
                argv: &argv,
                env: &[],
                cwd: Path::new("/"),
            },
            &Stdio {
                stdin: dev_null().unwrap(),
                stdout: dev_null().unwrap(),
                stderr: dev_null().unwrap(),
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);

        let bad = [OsString::from("a\0b")];
        let err = spawn(
            &Program {
                path: Path::new("/bin/true"),
                argv: &bad,
                env: &[],
                cwd: Path::new("/"),
            },
            &Stdio {
                stdin: 0,
                stdout: 1,
                stderr: 2,
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
