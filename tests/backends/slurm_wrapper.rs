//! `secflow job-wrapper`, the program a Slurm job runs, exercised directly (no cluster
//! needed): exit status and signals passed through, SIGTERM forwarded, the environment file,
//! leftovers killed, and the usage file.
#![allow(unsafe_code)] // libc::kill in tests

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use secflow::slurm::Usage;
use secflow::slurm::wrapper::write_env_file;

const EXE: &str = env!("CARGO_BIN_EXE_secflow");

fn wrapper(usage: &Path) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.arg("job-wrapper").arg("--usage-file").arg(usage);
    cmd
}

#[test]
fn exit_status_and_usage_are_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let status = wrapper(&usage_path)
        .args(["--", "sh", "-c", "sleep 0.3; exit 3"])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let u = Usage::read(&usage_path).unwrap();
    assert_eq!((u.exit_code, u.signal), (Some(3), None));
    assert!(u.wall_ms >= 300 && u.wall_ms < 10_000, "{u:?}");
    assert!(u.ended_unix_ms >= u.started_unix_ms + 300, "{u:?}");
    assert!(u.peak_rss_bytes > 0, "{u:?}");
}

#[test]
fn a_signal_that_kills_the_command_kills_the_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let status = wrapper(&usage_path)
        .args(["--", "sh", "-c", "kill -KILL $$"])
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let u = Usage::read(&usage_path).unwrap();
    assert_eq!((u.exit_code, u.signal), (None, Some(libc::SIGKILL)));
}

#[test]
fn sigterm_is_forwarded_to_the_commands_group() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let mut child = wrapper(&usage_path)
        .args([
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let t = Instant::now();
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    assert_eq!(Usage::read(&usage_path).unwrap().exit_code, Some(7));
}

#[test]
fn the_environment_file_is_the_whole_environment_plus_slurms() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let env_path = dir.path().join("job.env");
    let path = std::env::var("PATH").unwrap();
    write_env_file(
        &env_path,
        &[
            ("PATH".into(), path.into()),
            ("TRACEPARENT".into(), "00-abc-def-01".into()),
            ("MULTI".into(), "a b\nc".into()),
            ("SLURM_CPUS_ON_NODE".into(), "mine".into()),
        ],
    )
    .unwrap();
    let out = wrapper(&usage_path)
        .arg("--env-file")
        .arg(&env_path)
        .arg("--chdir")
        .arg(dir.path())
        .args(["--", "sh", "-c", "env; pwd"])
        .env("SLURM_JOB_ID", "77")
        .env("SLURM_CPUS_ON_NODE", "2")
        .env("NOT_PASSED", "x")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("TRACEPARENT=00-abc-def-01\n"), "{text}");
    assert!(text.contains("MULTI=a b\nc\n"), "{text}");
    assert!(text.contains("SLURM_JOB_ID=77\n"), "{text}");
    // The attempt's own value wins over the job's.
    assert!(text.contains("SLURM_CPUS_ON_NODE=mine\n"), "{text}");
    assert!(!text.contains("NOT_PASSED"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(
        !env_path.exists(),
        "the environment file is deleted once read"
    );
    assert_eq!(
        Usage::read(&usage_path).unwrap().job_id.as_deref(),
        Some("77")
    );
}

#[test]
fn processes_left_in_the_group_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let out = wrapper(&usage_path)
        .args(["--", "sh", "-c", "sleep 300 >/dev/null & echo $!"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let pid: i32 = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Gone, or a zombie waiting for init to reap it.
        let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
        if stat.is_empty() || state == Some('Z') || state == Some('X') {
            break;
        }
        assert!(Instant::now() < deadline, "sleep {pid} survived: {stat}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_command_that_cannot_start_exits_127_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let out = wrapper(&usage_path)
        .args(["--", "/nonexistent/tool", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tool"));
    let u = Usage::read(&usage_path).unwrap();
    assert!(u.error.unwrap().contains("cannot start"));
}

#[test]
fn a_missing_working_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let usage_path = dir.path().join("usage.json");
    let out = wrapper(&usage_path)
        .arg("--chdir")
        .arg(dir.path().join("gone"))
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gone") && err.contains("shared filesystem"),
        "{err}"
    );
}
