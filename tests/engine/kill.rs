//! Timeouts and cancellation with real processes and real signals: process groups are
//! terminated with grace, then killed; no process survives; records are final.
#![allow(unsafe_code)] // libc::kill and a counting allocator in tests

use std::time::{Duration, Instant};

use crate::support::{alive, group_members, run, wait_for_file};

/// A node that records its process group and a grandchild's pid, ignores SIGTERM and
/// sleeps; the grandchild also ignores SIGTERM.
const STUBBORN: &str = "trap '' TERM; echo $$ > pgid; sh -c 'trap \\\"\\\" TERM; sleep 600 & echo $! > grandchild; wait' & sleep 600; wait";

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn timeout_kills_the_whole_process_group_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let r = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: t\nnodes:\n  - id: stuck\n    run: \"{STUBBORN}\"\n    timeout: 1\n    kill_grace: 0.5\n"
        ),
        &[],
    );
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("stuck"), "timed_out");
    let a = &r.node("stuck")["attempts"][0];
    assert_eq!(a["status"], "timed_out");
    assert_eq!(a["signal"], 9, "SIGTERM was ignored, so SIGKILL ended it");
    assert_eq!(a["error"], "timed out after 1s");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let pgid = read_pid(&dir.path().join("pgid"));
    let grandchild = read_pid(&dir.path().join("grandchild"));
    assert!(group_members(pgid).is_empty(), "group {pgid} survived");
    assert!(!alive(grandchild), "grandchild {grandchild} survived");
}

#[test]
fn run_timeout_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: t\nconcurrency: 1\nnodes:\n  - id: long\n    run: \"sleep 30\"\n  - id: next\n    run: \"true\"\n",
        &["--timeout", "500ms"],
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.record["status"], "failed");
    assert_eq!(r.status("long"), "timed_out");
    assert_eq!(r.status("next"), "cancelled");
    assert!(r.record["reason"].as_str().unwrap().contains("timed out"));
}

#[test]
fn sigint_cancels_terminates_groups_and_writes_final_records() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = format!(
        "version: \"1.0\"\nname: c\nconcurrency: 1\nnodes:\n  - id: stuck\n    run: \"{STUBBORN}\"\n    kill_grace: 0.3\n  - id: never\n    run: \"touch never.ran\"\n    depends_on: [stuck]\n  - id: other\n    run: \"touch other.ran\"\n"
    );
    let child = crate::support::command(dir.path(), &recipe, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&dir.path().join("grandchild"), 20),
        "node never started"
    );
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert_eq!(r.record["status"], "cancelled");
    assert_eq!(r.record["exit_code"], 130);
    assert_eq!(r.status("stuck"), "cancelled");
    assert_eq!(r.status("never"), "cancelled");
    assert_eq!(r.status("other"), "cancelled");
    assert_eq!(
        r.written(),
        r.record,
        "run.json on disk is the final record"
    );
    assert!(!dir.path().join("never.ran").exists());
    let pgid = read_pid(&dir.path().join("pgid"));
    let grandchild = read_pid(&dir.path().join("grandchild"));
    assert!(group_members(pgid).is_empty(), "group {pgid} survived");
    assert!(!alive(grandchild), "grandchild {grandchild} survived");
}

#[test]
fn second_sigint_kills_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = format!(
        "version: \"1.0\"\nname: c\nnodes:\n  - id: stuck\n    run: \"{STUBBORN}\"\n    kill_grace: 60\n"
    );
    let child = crate::support::command(dir.path(), &recipe, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&dir.path().join("grandchild"), 20),
        "node never started"
    );
    let started = Instant::now();
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the 60 s grace"
    );
    assert_eq!(r.status("stuck"), "cancelled");
    assert!(group_members(read_pid(&dir.path().join("pgid"))).is_empty());
}

#[test]
fn a_process_escaping_the_group_does_not_hang_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: e\nnodes:\n  - id: escape\n    run: \"setsid sh -c 'echo $$ > escaped; exec sleep 600' & sleep 0.2; echo done\"\n",
        &[],
    );
    let escaped = read_pid(&dir.path().join("escaped"));
    // SAFETY: kill with a valid pid and signal (cleanup of the escaped process).
    unsafe { libc::kill(escaped, libc::SIGKILL) };
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("escape"), "succeeded");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let out = std::fs::read_to_string(r.run_dir.join("nodes/escape/1/stdout.log")).unwrap();
    assert_eq!(out, "done\n");
}

#[test]
fn sigterm_cancels_like_sigint_with_exit_143() {
    let dir = tempfile::tempdir().unwrap();
    let child = crate::support::command(
        dir.path(),
        "version: \"1.0\"\nname: c\nnodes:\n  - id: nap\n    run: \"echo $$ > pgid; sleep 600\"\n",
        &[],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    assert!(
        wait_for_file(&dir.path().join("pgid"), 20),
        "node never started"
    );
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 143, "{}", r.stderr);
    assert_eq!(r.record["exit_code"], 143);
    assert_eq!(r.status("nap"), "cancelled");
    assert_eq!(r.node("nap")["attempts"][0]["signal"], 15);
    assert!(group_members(read_pid(&dir.path().join("pgid"))).is_empty());
}
