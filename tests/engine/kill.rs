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

/// The bytes of the dataset the resumed run copies: big enough that the copy (read, hashed,
/// written in 64 KiB steps by the debug build) is caught half-way; sparse in the first run.
const BIG: u64 = 192 << 20;

/// The state letter of `/proc/<pid>/stat` (`T` when stopped).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().next()?.chars().next()
}

/// Review finding (SPEC §10): a SIGINT that arrived while `--resume` was copying a big
/// dataset of the earlier run (on the engine's thread) was read only after the copy, and
/// the node the copy released had started by then. The test stops secflow half-way through
/// the copy (SIGSTOP, checked in `/proc`), sends SIGINT, and lets it go on (SIGCONT): the
/// signal lands inside the copy, whatever the machine's speed.
#[test]
fn sigint_during_a_resume_copy_starts_nothing_and_stops_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = format!(
        "version: \"1.0\"\nname: big\nconcurrency: 1\nnodes:\n  - id: fetch\n    run: \"truncate -s {BIG} {{{{ outputs.big }}}}\"\n    outputs: [big]\n  - id: parse\n    run: \"touch parse.started; test -f fixed || exit 4; cat {{{{ inputs.big }}}} > {{{{ outputs.parsed }}}}\"\n    inputs: [big]\n    outputs: [parsed]\n"
    );
    let first = run(dir.path(), &recipe, &[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(first.status("fetch"), "succeeded");
    let marker = dir.path().join("parse.started");
    std::fs::remove_file(&marker).expect("parse ran in the first run");
    let id = first.record["run_id"].as_str().unwrap().to_string();

    let mut child = crate::support::command(dir.path(), &recipe, &["--resume", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let runs = dir.path().join("state/runs");
    // The copy in the new run's datasets/, once it has bytes.
    let copy_len = || -> Option<u64> {
        std::fs::read_dir(&runs)
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_str() != Some(id.as_str()))
            .find_map(|e| std::fs::metadata(e.path().join("datasets/big.jsonl")).ok())
            .map(|m| m.len())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while copy_len().unwrap_or(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "the resumed run never copied `big`"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("secflow ended ({status}) before the copy was seen");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    while proc_state(pid) != Some('T') {
        assert!(Instant::now() < deadline, "secflow did not stop");
        std::thread::sleep(Duration::from_millis(1));
    }
    let copied = copy_len().unwrap_or(0);
    let caught = copied > 0 && copied < BIG;
    // SAFETY: as above; the SIGINT is delivered when the process continues.
    unsafe {
        libc::kill(pid, libc::SIGINT);
        libc::kill(pid, libc::SIGCONT);
    }
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert!(
        caught,
        "the copy was not caught half-way ({copied} of {BIG} bytes): raise BIG"
    );
    assert_cancelled_unstarted(&r, "parse");
    assert!(!marker.exists(), "`parse`'s tool ran after the SIGINT");
    // The copy stopped at the signal (it did not run to its end first): `fetch` was not
    // reused, and the partial copy is gone.
    assert_eq!(r.status("fetch"), "cancelled", "{}", r.stderr);
    assert!(
        !r.run_dir.join("datasets/big.jsonl").exists(),
        "the interrupted copy was left in the new run"
    );
    assert!(
        !r.stderr.contains("running it again"),
        "an interrupted copy is no reason to run again:\n{}",
        r.stderr
    );
}

/// A run a SIGINT cancelled while it was deciding whether `node` could start: exit 130, its
/// record final on disk, and `node` cancelled without an attempt.
fn assert_cancelled_unstarted(r: &crate::support::Run, node: &str) {
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert_eq!(r.record["status"], "cancelled");
    assert_eq!(
        r.written(),
        r.record,
        "run.json on disk is the final record"
    );
    assert_eq!(r.status(node), "cancelled", "{}", r.stderr);
    assert_eq!(
        r.node(node)["attempts"],
        serde_json::json!([]),
        "`{node}` started after the SIGINT:\n{}",
        r.stderr
    );
}

/// Whether process `pid` has a descriptor open on a file whose path ends with `name`.
fn holds_open(pid: i32, name: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.ends_with(name)))
}

/// CPU time (user + system, in clock ticks) of process `pid`, from `/proc/<pid>/stat`
/// (readable whoever runs the test).
fn cpu_ticks(pid: i32) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat: the 12th and 13th after the command name.
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    tick(11) + tick(12)
}

/// Kills the child it holds when dropped (a failed assertion must not leave a secflow
/// digesting 64 GiB on the machine).
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn child(&mut self) -> &mut std::process::Child {
        self.0
            .as_mut()
            .expect("the child is held until its output is taken")
    }

    /// Waits for the child's end and output (it is then no longer killed on drop).
    fn output(mut self) -> std::process::Output {
        let child = self.0.take().expect("output is taken once");
        child.wait_with_output().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A node's `sources` hold a huge file (64 GiB, sparse: hours of digest on a slow disk,
/// tens of seconds here). A SIGINT while its cache key was being computed waited for the
/// whole digest before the run stopped; the digest now stops at its next read: the run ends
/// 130 within moments, its record final, and the node never starts.
#[test]
fn sigint_during_a_cache_key_digest_stops_it_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big.bin")).unwrap();
    big.set_len(64 << 30).unwrap();
    drop(big);
    let recipe = r#"
version: "1.0"
name: digest
state: { cache_intermediate: true }
nodes:
  - id: scan
    run: "touch scan.started; echo x > {{ outputs.found }}"
    sources: ["big.bin"]
    outputs: [found]
"#;
    let child = crate::support::command(dir.path(), recipe, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    let pid = child.child().id() as i32;
    // Well into the digest: 30 ticks (300 ms at the usual 100 Hz) of CPU, far more than the
    // start-up, or the file seen open when /proc/<pid>/fd is readable (secflow is not
    // dumpable: only root reads it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while cpu_ticks(pid) < 30 && !holds_open(pid, "big.bin") {
        assert!(Instant::now() < deadline, "secflow never read big.bin");
        if let Some(status) = child.child().try_wait().unwrap() {
            panic!("secflow ended ({status}) before it read big.bin");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let signalled = Instant::now();
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let out = child.output();
    let took = signalled.elapsed();
    let r = crate::support::finish(dir.path(), out);
    assert!(
        took < Duration::from_secs(5),
        "the run took {took:?} to stop after SIGINT (the digest ran to its end)"
    );
    assert_cancelled_unstarted(&r, "scan");
    assert!(
        !dir.path().join("scan.started").exists(),
        "`scan` ran after SIGINT"
    );
    assert!(!r.stderr.contains("cache key"), "{}", r.stderr);
}
