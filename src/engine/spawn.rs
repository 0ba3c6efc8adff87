//! Starting an attempt's process: `clone(CLONE_VM)` then `execve`, without waiting for the
//! child to get there.
//!
//! std's `Command` (through `posix_spawn`) copies the environment into a map and back into
//! C strings, maps a fresh stack for the child and unmaps it after (a TLB shootdown across
//! every thread of secflow), has the child reset all 64 signal dispositions, and suspends the
//! caller (`CLONE_VFORK`) until the child has exec'd. That last wait is the costly one: the
//! child must first be scheduled, and when 64 tools are starting at once on two CPUs that
//! took milliseconds per spawn, with every other start of the burst queued behind it.
//!
//! Here the caller's environment becomes one block of C strings and the caller goes on as
//! soon as the child exists. The child runs alongside secflow, in its memory, until it
//! execs, so:
//! - everything it reads (the C strings, the argv/envp arrays, its arguments) and its stack
//!   live in a [`Child`] and are freed only once the child is reaped; a `Child` dropped
//!   unreaped (a run torn down) leaks them rather than free them under the child;
//! - it makes raw system calls, never libc's wrappers: a failing wrapper writes `errno` in
//!   the thread-local storage the child shares with the thread that cloned it;
//! - it reports a step that failed (step and errno) in that shared memory, read once the
//!   child is reaped: nothing there means the program ran;
//! - its stack comes from a pool of mappings with a guard page below, so a spawn maps and
//!   unmaps nothing.
//!
//! The child gets: its own process group (set by both sides, so a signal sent right after
//! `spawn` returns reaches it), the three given descriptors as stdin/stdout/stderr and no
//! other (every descriptor secflow opens is close-on-exec), the given working directory, an
//! empty signal mask and default dispositions for [`RESET_SIGNALS`].

use std::ffi::{OsStr, OsString, c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::executor::ExitInfo;

/// Signals whose disposition secflow changes, reset to the default in every child:
/// SIGPIPE (ignored by Rust's runtime; an ignored disposition would survive `execve`),
/// SIGINT and SIGTERM (caught for cancellation; a handler must never run in the child
/// before it has exec'd). A caught signal is reset by `execve` anyway; resetting it first
/// closes the window between `clone` and `execve`.
pub const RESET_SIGNALS: [c_int; 3] = [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM];

/// The child's stack, guard page not included: the child makes a handful of system calls
/// and nothing deeper, a few hundred bytes even in a debug build.
const CHILD_STACK: usize = 32 * 1024;

/// Stacks kept for reuse; more than this many in use at once are unmapped when freed.
const POOLED_STACKS: usize = 256;

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

/// What the child reads: pointers into the [`CBlock`] next to it in [`ChildMemory`].
struct ChildArgs {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    cwd: *const c_char,
    fds: [RawFd; 3],
    /// The step that failed and its errno, written by the child; 0 when it exec'd.
    step: AtomicI32,
    errno: AtomicI32,
}

/// Everything the child uses until it execs or exits, at a fixed address.
struct ChildMemory {
    block: CBlock,
    args: ChildArgs,
    stack: Stack,
}

/// A started child process, not yet reaped.
pub struct Child {
    pid: i32,
    /// From `Box::leak`, turned back into a `Box` only once the child is reaped: the
    /// child reads and writes through pointers into it, which moving a `Box` would
    /// invalidate.
    memory: Option<NonNull<ChildMemory>>,
}

// SAFETY: `memory` is owned by this value alone (the child is another process); nothing in
// it is tied to the thread that made it.
unsafe impl Send for Child {}

/// How a reaped child ended.
#[derive(Debug)]
pub enum Exit {
    /// The program ran: how it ended and what it cost.
    Ran(ExitInfo),
    /// A step before the program could run failed (see [`spawn`]'s error messages).
    NotStarted(io::Error),
}

impl Child {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Reaps the child (blocking until it exits: call it once it has, e.g. when its pidfd
    /// is readable) and tells whether its program ran.
    pub fn wait(&mut self) -> io::Result<Exit> {
        let info = crate::engine::local::wait_child(self.pid)?;
        let Some(memory) = self.memory.take() else {
            return Ok(Exit::Ran(info));
        };
        // SAFETY: from `Box::leak` in `spawn`, taken once; the child is reaped, so
        // nothing else uses it, and it wrote its report (if any) before it exited.
        let memory = unsafe { Box::from_raw(memory.as_ptr()) };
        let step = memory.args.step.load(Ordering::Acquire);
        if step == 0 {
            return Ok(Exit::Ran(info));
        }
        let errno = memory.args.errno.load(Ordering::Acquire);
        Ok(Exit::NotStarted(step_error(
            step,
            errno,
            &memory.block.cwd(),
        )))
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn step_error(step: i32, errno: i32, cwd: &Path) -> io::Error {
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
        _ => context("setting up stdio".into()),
    }
}

/// Starts `program` with `stdio`. Errors found before the child exists (a NUL byte in an
/// argument, no memory, no process) are returned here; a step of the child that fails is
/// reported by [`Child::wait`].
pub fn spawn(program: &Program<'_>, stdio: &Stdio) -> io::Result<Child> {
    let block = CBlock::new(program)?;
    let stack = Stack::take()?;
    let args = ChildArgs {
        path: block.ptr(block.path),
        argv: block.argv.as_ptr(),
        envp: block.envp.as_ptr(),
        cwd: block.ptr(block.cwd),
        fds: [stdio.stdin, stdio.stdout, stdio.stderr],
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    // Freed by `Child::wait` once the child is reaped; a `Child` dropped unreaped (a run
    // torn down) leaks it rather than free it under a child that may still use it.
    let memory = NonNull::from(Box::leak(Box::new(ChildMemory { block, args, stack })));
    // SAFETY: just made, and only read from here on.
    let (top, args) = unsafe {
        let m = memory.as_ref();
        (m.stack.top(), std::ptr::from_ref(&m.args).cast_mut())
    };

    // No handler of secflow's may run in the child: every signal is blocked around clone,
    // and the child resets the ones secflow catches before it unblocks them.
    // SAFETY: zeroed sigset_t values are valid; the calls only write through the pointers.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: `child` reads `args` and the C strings it points to, writes only its report
    // in `args`, and runs on the stack below `top`; all of it stays where it is, unchanged
    // by us, until the child is reaped (see `Child`).
    let pid = unsafe { libc::clone(child, top, libc::CLONE_VM | libc::SIGCHLD, args.cast()) };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        // No child saw it.
        // SAFETY: from `Box::leak` above, used by nothing else.
        drop(unsafe { Box::from_raw(memory.as_ptr()) });
        return Err(clone_error);
    }
    // The child does this too, first thing; whichever comes first, the group exists before
    // anyone could signal it. Fails harmlessly once the child has exec'd.
    // SAFETY: setpgid has no memory-safety preconditions.
    unsafe { libc::setpgid(pid, pid) };
    Ok(Child {
        pid,
        memory: Some(memory),
    })
}

/// A child's stack: a mapping with a guard page below, from a pool.
struct Stack {
    base: *mut c_void,
}

/// Stacks not in use, as addresses of their mappings.
static STACKS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| {
        usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
    })
}

impl Stack {
    fn mapping_len() -> usize {
        CHILD_STACK + page_size()
    }

    fn take() -> io::Result<Stack> {
        if let Some(base) = STACKS.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(Stack {
                base: base as *mut c_void,
            });
        }
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::mapping_len(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // The lowest page is the guard: an overflow faults instead of writing below.
        // SAFETY: the first page of the mapping made above.
        if unsafe { libc::mprotect(base, page_size(), libc::PROT_NONE) } != 0 {
            let error = io::Error::last_os_error();
            // SAFETY: the mapping made above, used by nothing.
            unsafe { libc::munmap(base, Self::mapping_len()) };
            return Err(error);
        }
        Ok(Stack { base })
    }

    /// One past the highest byte (stacks grow down); page-aligned, so 16-byte aligned.
    fn top(&self) -> *mut c_void {
        // SAFETY: the end of this stack's own mapping.
        unsafe { self.base.cast::<u8>().add(Self::mapping_len()) }.cast()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let mut pool = STACKS.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOLED_STACKS {
            pool.push(self.base as usize);
        } else {
            drop(pool);
            // SAFETY: this stack's own mapping, which nothing uses any more.
            unsafe { libc::munmap(self.base, Self::mapping_len()) };
        }
    }
}

/// The child, between clone and execve: raw system calls only (see the module's doc), no
/// allocation, no locks, nothing written but its own stack and the
/// report in `ChildArgs`.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is `ChildArgs` in the spawning `Child`'s memory, kept until we are done.
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    let fail = |step: i32, ret: isize| -> c_int {
        args.errno.store(
            i32::try_from(-ret).unwrap_or(libc::EINVAL),
            Ordering::Release,
        );
        args.step.store(step, Ordering::Release);
        // SAFETY: ends this process only; nothing of the parent's runs.
        unsafe { raw::syscall(libc::SYS_exit, [127, 0, 0, 0]) };
        127
    };
    // SAFETY (block): plain system calls on values this function owns or `args` holds.
    unsafe {
        let r = raw::syscall(libc::SYS_setpgid, [0, 0, 0, 0]);
        if r < 0 {
            return fail(STEP_PGID, r);
        }
        // The kernel's `struct sigaction`, all zeroes: SIG_DFL, no flags, empty mask.
        let dfl = [0u64; 4];
        for sig in RESET_SIGNALS {
            let r = raw::syscall(
                libc::SYS_rt_sigaction,
                [sig as usize, dfl.as_ptr() as usize, 0, 8],
            );
            if r < 0 {
                return fail(STEP_SIGNALS, r);
            }
        }
        for (target, &fd) in args.fds.iter().enumerate() {
            // Rust's runtime keeps 0-2 open, so every descriptor given here is above 2
            // and no dup3 overwrites a later source; a descriptor already in place only
            // needs its close-on-exec flag cleared.
            let r = if fd as usize == target {
                raw::syscall(libc::SYS_fcntl, [fd as usize, libc::F_SETFD as usize, 0, 0])
            } else {
                raw::syscall(libc::SYS_dup3, [fd as usize, target, 0, 0])
            };
            if r < 0 {
                return fail(STEP_FDS, r);
            }
        }
        let r = raw::syscall(libc::SYS_chdir, [args.cwd as usize, 0, 0, 0]);
        if r < 0 {
            return fail(STEP_CWD, r);
        }
        let empty = 0u64;
        raw::syscall(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_SETMASK as usize,
                std::ptr::from_ref(&empty) as usize,
                0,
                8,
            ],
        );
        let r = raw::syscall(
            libc::SYS_execve,
            [
                args.path as usize,
                args.argv as usize,
                args.envp as usize,
                0,
            ],
        );
        fail(STEP_EXEC, r)
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!(
    "engine::spawn makes raw system calls for x86_64 and aarch64 only: add this architecture's \
     `raw::syscall` (and check its kernel `struct sigaction` is 32 zero bytes for SIG_DFL)"
);

/// System calls without libc: the result, or `-errno`.
mod raw {
    /// # Safety
    /// The arguments must be valid for system call `n`.
    #[cfg(target_arch = "x86_64")]
    pub unsafe fn syscall(n: libc::c_long, a: [usize; 4]) -> isize {
        let ret: isize;
        // SAFETY: the caller's; `syscall` clobbers rcx and r11 only.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// # Safety
    /// The arguments must be valid for system call `n`.
    #[cfg(target_arch = "aarch64")]
    pub unsafe fn syscall(n: libc::c_long, a: [usize; 4]) -> isize {
        let ret: isize;
        // SAFETY: the caller's; `svc 0` returns in x0 and clobbers nothing else.
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") n,
                inlateout("x0") a[0] as isize => ret,
                in("x1") a[1],
                in("x2") a[2],
                in("x3") a[3],
                options(nostack),
            );
        }
        ret
    }
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

    fn cwd(&self) -> std::path::PathBuf {
        let end = self.bytes[self.cwd..].iter().position(|&b| b == 0);
        let cwd = &self.bytes[self.cwd..self.cwd + end.unwrap_or(0)];
        OsStr::from_bytes(cwd).into()
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
        let mut child = spawn(
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
        let info = match child.wait()? {
            Exit::Ran(info) => info,
            Exit::NotStarted(e) => return Err(e),
        };
        assert_eq!(info.exit_code, Some(0), "child output: {out}");
        Ok((child.pid(), out))
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
        let mut child = spawn(
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
        // spawn returns before the child has exec'd (and the kernel has closed its
        // close-on-exec descriptors): look only once it has said something after its exec.
        let mut file = std::fs::File::from(read.try_clone().unwrap());
        let mut byte = [0u8; 1];
        while !matches!(file.read(&mut byte), Ok(1)) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid = child.pid();
        let fds: Vec<RawFd> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
            .collect();
        // SAFETY: kill our own child (reaped below).
        unsafe { libc::kill(pid, libc::SIGKILL) };
        assert!(matches!(child.wait().unwrap(), Exit::Ran(i) if i.signal == Some(libc::SIGKILL)));
        assert!(fds.starts_with(&[0, 1, 2]), "{fds:?}");
        // The parent's descriptors keep their numbers in the child: none of these is there.
        let ours = [read.as_raw_fd(), write.as_raw_fd(), dev_null().unwrap()];
        for fd in ours {
            assert!(!fds.contains(&fd), "fd {fd} leaked into the child: {fds:?}");
        }
    }

    /// Starts `path` with `argv`, no environment, in `/`, all three stdio on /dev/null.
    fn quiet(path: &str, argv: &[&str]) -> io::Result<Child> {
        let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let null = dev_null()?;
        spawn(
            &Program {
                path: Path::new(path),
                argv: &argv,
                env: &[],
                cwd: Path::new("/"),
            },
            &Stdio {
                stdin: null,
                stdout: null,
                stderr: null,
            },
        )
    }

    #[test]
    fn a_signal_to_the_group_right_after_spawn_reaches_the_child() {
        // spawn returns before the child has run at all: the group must exist already.
        for _ in 0..20 {
            let mut child = quiet("/bin/sleep", &["sleep", "30"]).unwrap();
            // SAFETY: signals our own child's group.
            assert_eq!(unsafe { libc::killpg(child.pid(), libc::SIGTERM) }, 0);
            let exit = child.wait().unwrap();
            assert!(
                matches!(&exit, Exit::Ran(i) if i.signal == Some(libc::SIGTERM)),
                "{exit:?}"
            );
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

        let mut child = quiet("/nonexistent/program", &["x"]).unwrap();
        let Exit::NotStarted(err) = child.wait().unwrap() else {
            panic!("a missing program ran");
        };
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        // Reaped by `wait`: no child of this test is left.
        // SAFETY: waitpid on our own child, status pointer may be null.
        let left = unsafe { libc::waitpid(child.pid(), std::ptr::null_mut(), libc::WNOHANG) };
        assert_eq!(left, -1);

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
