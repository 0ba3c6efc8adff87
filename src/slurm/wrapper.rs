//! `secflow job-wrapper`: what runs inside a Slurm job. It starts the attempt's command as a
//! child in its own process group (stdin `/dev/null`, stdout/stderr inherited from the
//! job's `--output`/`--error` files), forwards SIGTERM/SIGINT/SIGHUP/SIGUSR1/SIGUSR2 to that
//! group, reaps the child with `wait4`, ends whatever it left behind (it is a child
//! subreaper, so escaped descendants are found too: TERM, a grace, KILL), writes
//! the [`Usage`] file and exits with the child's status (re-raising its signal), so Slurm
//! sees the command's own outcome.
//!
//! With `--env-file`, the command starts with exactly the variables in that file (NUL
//! separated `KEY=VALUE`, see [`write_env_file`]) plus the job's `SLURM_*` variables it
//! does not set itself; the file is deleted as soon as it is read (it may hold secrets).

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::usage::{USAGE_SCHEMA_VERSION, Usage};

/// Exit status when the command could not be started (as a shell would say).
pub const EXIT_CANNOT_START: i32 = 127;

/// What `secflow job-wrapper` was asked to do.
#[derive(Debug, Clone)]
pub struct WrapperConfig {
    pub usage_file: PathBuf,
    pub env_file: Option<PathBuf>,
    pub chdir: Option<PathBuf>,
    pub argv: Vec<OsString>,
}

/// Signals forwarded to the child's process group.
const FORWARDED: [libc::c_int; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// How long what the command leaves running gets between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(5);

/// Runs the wrapper and returns the exit code (when the child died of a signal, the
/// wrapper re-raises it and only returns if that did not end the process).
pub fn run(config: &WrapperConfig) -> i32 {
    crate::sys::signals::forward_signals(&FORWARDED);
    // Descendants that escape the command's group (setsid, double fork) become ours, so
    // they can be found and ended like the local executor's shim ends them.
    let _ = crate::sys::misc::set_child_subreaper();
    let started_at = SystemTime::now();
    let started = Instant::now();
    let mut usage = Usage {
        schema_version: USAGE_SCHEMA_VERSION,
        started_unix_ms: unix_ms(started_at),
        job_id: std::env::var("SLURM_JOB_ID").ok(),
        host: crate::sys::misc::hostname(),
        ..Usage::default()
    };
    let outcome = spawn_and_reap(config);
    let ended_at = SystemTime::now();
    usage.ended_unix_ms = unix_ms(ended_at);
    usage.wall_ms = started.elapsed().as_millis() as u64;
    let code = match outcome {
        Ok(reaped) => {
            usage.cpu_user_ms = reaped.cpu_user.as_millis() as u64;
            usage.cpu_system_ms = reaped.cpu_system.as_millis() as u64;
            usage.peak_rss_bytes = reaped.peak_rss_bytes;
            usage.read_bytes = reaped.read_bytes;
            usage.write_bytes = reaped.write_bytes;
            usage.exit_code = reaped.exit_code;
            usage.signal = reaped.signal;
            usage.killed_descendants = Some(reaped.killed_descendants);
            reaped
        }
        Err(message) => {
            eprintln!("secflow job-wrapper: {message}");
            usage.error = Some(message);
            Reaped {
                exit_code: Some(EXIT_CANNOT_START),
                ..Reaped::default()
            }
        }
    };
    if let Err(e) = usage.write(&config.usage_file) {
        eprintln!(
            "secflow job-wrapper: cannot write {}: {e}",
            config.usage_file.display()
        );
    }
    if let Some(sig) = code.signal {
        crate::sys::signals::raise_default(sig);
        return 128 + sig;
    }
    code.exit_code.unwrap_or(EXIT_CANNOT_START)
}

#[derive(Debug, Default)]
struct Reaped {
    exit_code: Option<i32>,
    signal: Option<i32>,
    cpu_user: Duration,
    cpu_system: Duration,
    peak_rss_bytes: u64,
    read_bytes: u64,
    write_bytes: u64,
    killed_descendants: u64,
}

fn spawn_and_reap(config: &WrapperConfig) -> Result<Reaped, String> {
    let Some(program) = config.argv.first() else {
        return Err("no command given after `--`".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(&config.argv[1..])
        .stdin(Stdio::null())
        .process_group(0);
    if let Some(path) = &config.env_file {
        let vars = read_env_file(path)
            .map_err(|e| format!("cannot read environment file {}: {e}", path.display()))?;
        let _ = std::fs::remove_file(path);
        cmd.env_clear();
        for (k, v) in std::env::vars_os() {
            let slurm = k.as_bytes().starts_with(b"SLURM_");
            if slurm && !vars.iter().any(|(key, _)| *key == k) {
                cmd.env(k, v);
            }
        }
        cmd.envs(vars);
    }
    if let Some(dir) = &config.chdir {
        if !dir.is_dir() {
            return Err(format!(
                "working directory {} does not exist on this node (is it on a shared filesystem?)",
                dir.display()
            ));
        }
        cmd.current_dir(dir);
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", program.to_string_lossy()))?;
    let pid = child.id() as i32;
    // `child` is dropped without waiting: it is reaped below with wait4.
    drop(child);
    crate::sys::signals::forward_to(pid);
    let reaped = wait4(pid);
    crate::sys::signals::forward_to(0);
    // Whatever the command left running (in its group or escaped from it) is ended as the
    // local executor's shim ends it: TERM, a grace, KILL, each reaped by pid.
    let mut tree = crate::sys::shim::Tree::new(pid, LEFTOVER_GRACE);
    tree.end_leftovers(&mut |pause| {
        std::thread::sleep(pause);
        false
    });
    reaped.map(|r| Reaped {
        killed_descendants: tree.killed(),
        ..r
    })
}

fn wait4(pid: i32) -> Result<Reaped, String> {
    let info = crate::engine::local::wait_child(pid).map_err(|e| format!("wait4 failed: {e}"))?;
    Ok(Reaped {
        exit_code: info.exit_code,
        signal: info.signal,
        cpu_user: info.cpu_user,
        cpu_system: info.cpu_system,
        peak_rss_bytes: info.peak_rss_bytes.unwrap_or(0),
        read_bytes: info.read_bytes.unwrap_or(0),
        write_bytes: info.write_bytes.unwrap_or(0),
        killed_descendants: 0,
    })
}

/// Writes `vars` as NUL-separated `KEY=VALUE` records to a new file readable only by its
/// owner. Keys must be non-empty and hold neither `=` nor NUL; values no NUL.
pub fn write_env_file(path: &Path, vars: &[(OsString, OsString)]) -> std::io::Result<()> {
    let mut buf = Vec::new();
    for (k, v) in vars {
        let (kb, vb) = (k.as_bytes(), v.as_bytes());
        if kb.is_empty() || kb.contains(&b'=') || kb.contains(&0) || vb.contains(&0) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("environment variable {k:?} cannot be passed"),
            ));
        }
        buf.extend_from_slice(kb);
        buf.push(b'=');
        buf.extend_from_slice(vb);
        buf.push(0);
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&buf)
}

/// Reads a file written by [`write_env_file`].
pub fn read_env_file(path: &Path) -> std::io::Result<Vec<(OsString, OsString)>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .split(|b| *b == 0)
        .filter(|rec| !rec.is_empty())
        .map(|rec| match rec.iter().position(|b| *b == b'=') {
            Some(i) => (
                OsStr::from_bytes(&rec[..i]).to_owned(),
                OsString::from_vec(rec[i + 1..].to_vec()),
            ),
            None => (OsStr::from_bytes(rec).to_owned(), OsString::new()),
        })
        .collect())
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_round_trip_with_awkward_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.env");
        let vars: Vec<(OsString, OsString)> = vec![
            ("A".into(), "x=y z".into()),
            ("EMPTY".into(), "".into()),
            ("NL".into(), "line1\nline2 'q' \"d\" $HOME".into()),
        ];
        write_env_file(&path, &vars).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_env_file(&path).unwrap(), vars);
        let bad = [(OsString::from("A=B"), OsString::from("c"))];
        assert!(write_env_file(&path, &bad).is_err());
    }
}
