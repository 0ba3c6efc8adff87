//! Submission: one attempt → one batch job.
//!
//! [`submit`] checks the working directory (Slurm would silently fall back to /tmp),
//! creates the attempt's directory and empty stdout/stderr files (a missing `--output`
//! directory makes Slurm fail the job with no output at all), writes `job.env` (the
//! attempt's environment, 0600) and `job.sh` (which `exec`s `secflow job-wrapper`), runs
//! `sbatch --parsable` with the curated client environment and returns the job id.
//! A rejected submission or an unreachable controller is an error, within the client's
//! command timeout.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use super::usage::USAGE_FILE;
use super::wrapper::write_env_file;
use super::{Client, SlurmError, command};
use crate::plan::SlurmOptions;

/// The job script's file name inside the attempt's directory.
pub const SCRIPT_FILE: &str = "job.sh";
/// The environment file's name inside the attempt's directory (deleted once read).
pub const ENV_FILE: &str = "job.env";

/// One attempt to run as a batch job; everything resolved.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The job name: the node id.
    pub name: String,
    /// Program and arguments (`argv[0]` looked up in the attempt's `PATH`).
    pub argv: Vec<OsString>,
    /// The attempt's complete environment (SPEC §3, `TRACEPARENT` included).
    pub env: Vec<(OsString, OsString)>,
    /// The working directory; must exist.
    pub cwd: PathBuf,
    /// `nodes/<id>/<attempt>/`: created before submission; holds the script, the
    /// environment file and the usage file.
    pub attempt_dir: PathBuf,
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
    pub options: SlurmOptions,
    /// A free-form `--comment` (e.g. `secflow run <run id>`), shown by `squeue -o %k`.
    pub comment: Option<String>,
}

impl JobSpec {
    /// Where the wrapper writes its usage record.
    pub fn usage_path(&self) -> PathBuf {
        self.attempt_dir.join(USAGE_FILE)
    }
}

/// A job Slurm accepted.
#[derive(Debug, Clone)]
pub struct SubmittedJob {
    pub job_id: String,
    pub name: String,
    pub usage_path: PathBuf,
    pub env_path: PathBuf,
    pub submitted: Instant,
    pub submitted_at: SystemTime,
}

/// Submits `spec`; `wrapper_exe` is the secflow binary the job runs (on a filesystem the
/// compute nodes share).
pub async fn submit(
    client: &Client,
    wrapper_exe: &Path,
    spec: &JobSpec,
) -> Result<SubmittedJob, SlurmError> {
    if !spec.cwd.is_dir() {
        return Err(SlurmError::NoWorkdir(spec.cwd.display().to_string()));
    }
    let prep = |path: &Path| {
        let path = path.display().to_string();
        move |source| SlurmError::Prepare { path, source }
    };
    std::fs::create_dir_all(&spec.attempt_dir).map_err(prep(&spec.attempt_dir))?;
    for path in [&spec.stdout_path, &spec.stderr_path] {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(prep(parent))?;
        }
        std::fs::File::create(path).map_err(prep(path))?;
    }
    let env_path = spec.attempt_dir.join(ENV_FILE);
    write_env_file(&env_path, &spec.env).map_err(prep(&env_path))?;
    let script_path = spec.attempt_dir.join(SCRIPT_FILE);
    std::fs::write(&script_path, script(wrapper_exe, spec, &env_path))
        .map_err(prep(&script_path))?;

    let args = sbatch_args(spec, &script_path);
    let submitted = Instant::now();
    let submitted_at = SystemTime::now();
    let out = match command::run(client, &client.tools.sbatch, &args).await {
        Ok(out) => out,
        Err(e) => {
            let _ = std::fs::remove_file(&env_path);
            return Err(e);
        }
    };
    let Some(job_id) = parse_job_id(&out.stdout) else {
        let _ = std::fs::remove_file(&env_path);
        return Err(SlurmError::Parse {
            program: client.tools.sbatch.to_string_lossy().into_owned(),
            output: out.stdout,
        });
    };
    Ok(SubmittedJob {
        job_id,
        name: spec.name.clone(),
        usage_path: spec.usage_path(),
        env_path,
        submitted,
        submitted_at,
    })
}

/// The `sbatch` arguments for `spec` (the script path last). User `extra_args` come after
/// secflow's own options, so they can override them.
pub fn sbatch_args(spec: &JobSpec, script_path: &Path) -> Vec<OsString> {
    let opt = |name: &str, value: &OsStr| {
        let mut s = OsString::from(format!("--{name}="));
        s.push(value);
        s
    };
    let mut args: Vec<OsString> = vec![
        "--parsable".into(),
        opt("job-name", OsStr::new(&spec.name)),
        opt("chdir", spec.cwd.as_os_str()),
        opt("output", &escape_pattern(spec.stdout_path.as_os_str())),
        opt("error", &escape_pattern(spec.stderr_path.as_os_str())),
        "--export=ALL".into(),
    ];
    let o = &spec.options;
    if let Some(p) = &o.partition {
        args.push(opt("partition", OsStr::new(p)));
    }
    if let Some(t) = &o.time {
        args.push(opt("time", OsStr::new(t)));
    }
    if let Some(c) = o.cpus {
        args.push(opt("cpus-per-task", OsStr::new(&c.to_string())));
    }
    if let Some(m) = &o.mem {
        args.push(opt("mem", OsStr::new(m)));
    }
    if let Some(c) = &spec.comment {
        args.push(opt("comment", OsStr::new(c)));
    }
    args.extend(o.extra_args.iter().map(OsString::from));
    args.push(script_path.as_os_str().to_owned());
    args
}

/// The job script: `exec` the wrapper, every word single-quoted.
pub fn script(wrapper_exe: &Path, spec: &JobSpec, env_path: &Path) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"#!/bin/sh\n# written by secflow: one attempt of node ");
    s.extend_from_slice(spec.name.as_bytes());
    s.extend_from_slice(b"; the environment is in job.env (deleted once read)\nexec");
    let usage = spec.usage_path();
    let words: [&OsStr; 9] = [
        wrapper_exe.as_os_str(),
        OsStr::new("job-wrapper"),
        OsStr::new("--usage-file"),
        usage.as_os_str(),
        OsStr::new("--env-file"),
        env_path.as_os_str(),
        OsStr::new("--chdir"),
        spec.cwd.as_os_str(),
        OsStr::new("--"),
    ];
    for w in words {
        s.push(b' ');
        s.extend_from_slice(&shell_quote(w.as_bytes()));
    }
    for a in &spec.argv {
        s.push(b' ');
        s.extend_from_slice(&shell_quote(a.as_bytes()));
    }
    s.push(b'\n');
    s
}

/// `'…'` with every `'` written as `'\''`.
fn shell_quote(word: &[u8]) -> Vec<u8> {
    let mut q = Vec::with_capacity(word.len() + 2);
    q.push(b'\'');
    for &b in word {
        if b == b'\'' {
            q.extend_from_slice(b"'\\''");
        } else {
            q.push(b);
        }
    }
    q.push(b'\'');
    q
}

/// Slurm expands `%j`, `%x`, … in `--output`/`--error`; `%%` is a literal `%`.
fn escape_pattern(path: &OsStr) -> OsString {
    let bytes = path.as_bytes();
    if !bytes.contains(&b'%') {
        return path.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len() + 4);
    for &b in bytes {
        out.push(b);
        if b == b'%' {
            out.push(b'%');
        }
    }
    OsStr::from_bytes(&out).to_owned()
}

/// `sbatch --parsable` prints `<id>` or `<id>;<cluster>`.
pub fn parse_job_id(stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    let id = line.split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            name: "scan".into(),
            argv: vec!["sh".into(), "-c".into(), "echo 'hi' > $OUT".into()],
            env: vec![],
            cwd: "/work dir".into(),
            attempt_dir: "/state/runs/R/nodes/scan/1".into(),
            stdout_path: "/state/runs/R/nodes/scan/1/stdout.log".into(),
            stderr_path: "/state/100%/stderr.log".into(),
            options: SlurmOptions {
                partition: Some("debug".into()),
                time: Some("10:00".into()),
                cpus: Some(2),
                mem: Some("512M".into()),
                extra_args: vec!["--qos=low".into()],
                poll_interval: None,
            },
            comment: Some("secflow run R".into()),
        }
    }

    #[test]
    fn sbatch_arguments() {
        let args = sbatch_args(&spec(), Path::new("/a/job.sh"));
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=scan",
                "--chdir=/work dir",
                "--output=/state/runs/R/nodes/scan/1/stdout.log",
                "--error=/state/100%%/stderr.log",
                "--export=ALL",
                "--partition=debug",
                "--time=10:00",
                "--cpus-per-task=2",
                "--mem=512M",
                "--comment=secflow run R",
                "--qos=low",
                "/a/job.sh",
            ]
        );
    }

    #[test]
    fn script_quotes_every_word() {
        let s =
            String::from_utf8(script(Path::new("/bin/secflow"), &spec(), Path::new("/e"))).unwrap();
        let last = s.lines().last().unwrap();
        assert_eq!(
            last,
            "exec '/bin/secflow' 'job-wrapper' '--usage-file' \
             '/state/runs/R/nodes/scan/1/usage.json' '--env-file' '/e' '--chdir' '/work dir' \
             '--' 'sh' '-c' 'echo '\\''hi'\\'' > $OUT'"
        );
    }

    #[test]
    fn job_ids() {
        assert_eq!(parse_job_id("5\n").as_deref(), Some("5"));
        assert_eq!(parse_job_id("17;cluster\n").as_deref(), Some("17"));
        assert_eq!(parse_job_id("Submitted batch job 5"), None);
        assert_eq!(parse_job_id(""), None);
    }
}
