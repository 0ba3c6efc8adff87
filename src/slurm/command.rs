//! Running one Slurm client command: a curated environment, stdin `/dev/null`, captured
//! output, and a hard timeout after which the command is killed (never a hang).

use std::ffi::{OsStr, OsString};
use std::process::Stdio;
use std::time::Duration;

use super::{Client, SlurmError};

/// The environment Slurm client commands run with: only what they need to find the
/// controller and behave (`PATH`, `HOME`, locale, `SLURM_*`/`SBATCH_*`/`SQUEUE_*`/… input
/// variables such as `SLURM_CONF`), never secflow's secrets. With `sbatch --export=ALL` this
/// is also what Slurm stores with the job; the attempt's real environment travels in a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientEnv {
    pub vars: Vec<(OsString, OsString)>,
}

/// Variables passed through by name.
const KEEP: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
];
/// Variables passed through by prefix: the Slurm clients' own input variables.
const KEEP_PREFIX: &[&str] = &[
    "SLURM_",
    "SBATCH_",
    "SQUEUE_",
    "SACCT_",
    "SCANCEL_",
    "SCONTROL_",
    "LC_",
];

impl ClientEnv {
    /// The curated subset of secflow's own environment.
    pub fn from_process() -> Self {
        Self::curate(std::env::vars_os())
    }

    /// Keeps the variables a Slurm client needs from `vars`.
    pub fn curate(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        let vars = vars
            .into_iter()
            .filter(|(k, _)| {
                k.to_str().is_some_and(|k| {
                    KEEP.contains(&k) || KEEP_PREFIX.iter().any(|p| k.starts_with(p))
                })
            })
            .collect();
        ClientEnv { vars }
    }

    /// Sets (or replaces) one variable.
    pub fn set(&mut self, key: impl Into<OsString>, value: impl Into<OsString>) {
        let key = key.into();
        self.vars.retain(|(k, _)| *k != key);
        self.vars.push((key, value.into()));
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args` with the client's environment and timeout. A non-zero exit is
/// [`SlurmError::Rejected`] (or [`SlurmError::Unreachable`] when the client says it could
/// not contact the controller).
pub async fn run(
    client: &Client,
    program: &OsStr,
    args: &[OsString],
) -> Result<Output, SlurmError> {
    let name = program.to_string_lossy().into_owned();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(client.env.vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|source| SlurmError::Spawn {
        program: name.clone(),
        source,
    })?;
    let out = match tokio::time::timeout(client.command_timeout, child.wait_with_output()).await {
        // Dropping the future drops the child, which kill_on_drop kills (and tokio reaps).
        Err(_) => {
            return Err(SlurmError::Timeout {
                program: name,
                after: client.command_timeout,
            });
        }
        Ok(Err(source)) => {
            return Err(SlurmError::Spawn {
                program: name,
                source,
            });
        }
        Ok(Ok(out)) => out,
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() {
        return Ok(Output { stdout, stderr });
    }
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("unable to contact slurm controller")
        || lower.contains("connect failure")
        || lower.contains("connection refused")
    {
        return Err(SlurmError::Unreachable {
            program: name,
            message: stderr,
        });
    }
    Err(SlurmError::Rejected {
        program: name,
        status: out.status.to_string(),
        message: if stderr.is_empty() {
            stdout.trim().to_string()
        } else {
            stderr
        },
    })
}

/// Blocking variant for `Drop` paths (no async runtime needed): runs the command, waits at
/// most `timeout`, kills it after that. Errors are returned, never panics.
pub fn run_blocking(
    client: &Client,
    program: &OsStr,
    args: &[OsString],
    timeout: Duration,
) -> Result<(), SlurmError> {
    let name = program.to_string_lossy().into_owned();
    let mut child = std::process::Command::new(program)
        .args(args)
        .env_clear()
        .envs(client.env.vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| SlurmError::Spawn {
            program: name.clone(),
            source,
        })?;
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SlurmError::Timeout {
                    program: name,
                    after: timeout,
                });
            }
            Err(source) => {
                return Err(SlurmError::Spawn {
                    program: name,
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curation_keeps_slurm_inputs_and_drops_the_rest() {
        let env = ClientEnv::curate(
            [
                ("PATH", "/bin"),
                ("SLURM_CONF", "/x/slurm.conf"),
                ("SBATCH_PARTITION", "debug"),
                ("SCAN_API_TOKEN", "hunter2"),
                ("LC_ALL", "C"),
            ]
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        let keys: Vec<_> = env.vars.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(keys, ["PATH", "SLURM_CONF", "SBATCH_PARTITION", "LC_ALL"]);
    }
}
