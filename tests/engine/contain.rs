//! Containment (SPEC §10 "No process outlives its attempt", "Spawning is safe code"), each
//! test pinning one finding of issue 17 with real processes and real signals: escaped
//! descendants are ended on success, timeout and every cancelling signal; `kill_grace`
//! reaches a trap in a grandchild; inherited signal dispositions; a low open-file limit;
//! the per-node peak RSS is the tool's own; secflow runs under valgrind.
#![allow(unsafe_code)] // libc::kill to deliver real signals

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::support::{BIN, command, finish, run, wait_for_file};

/// A `sleep` argument no other process on the machine has: `sleep 8<pid>.<n>` runs long
/// and its command line is the marker looked for in `/proc/*/cmdline`.
fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "8{}.{}{}",
        std::process::id() % 10_000,
        N.fetch_add(1, Ordering::Relaxed),
        7
    )
}

/// Live processes whose command line contains `marker`.
fn with_marker(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(marker) && crate::support::alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// Asserts no process with any of `markers` survives, killing survivors so a failing
/// test leaves nothing behind.
fn assert_none_left(markers: &[String]) {
    // Whatever secflow ended is gone by the time it exits; allow the kernel a moment to
    // finish tearing down processes it already killed.
    std::thread::sleep(Duration::from_millis(100));
    let mut left = Vec::new();
    for m in markers {
        for pid in with_marker(m) {
            // SAFETY: kill with a valid pid and signal (cleanup of a survivor).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            left.push((m.clone(), pid));
        }
    }
    assert!(
        left.is_empty(),
        "processes survived their attempt: {left:?}"
    );
}

/// `run:` of a node that escapes three ways — setsid, a double fork, `nohup … &` — then
/// runs `rest`.
fn escaping(markers: &[String; 3], rest: &str) -> String {
    format!(
        "setsid sleep {} & (sleep {} &); nohup sleep {} >/dev/null 2>&1 & {rest}",
        markers[0], markers[1], markers[2]
    )
}

fn markers() -> [String; 3] {
    [marker(), marker(), marker()]
}

#[test]
fn escaped_processes_are_ended_after_a_successful_tool() {
    let dir = tempfile::tempdir().unwrap();
    let m = markers();
    let started = Instant::now();
    let r = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: e\nnodes:\n  - id: escape\n    run: \"{}\"\n",
            escaping(&m, "sleep 0.2; echo done")
        ),
        &[],
    );
    let took = started.elapsed();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.status("escape"),
        "succeeded",
        "a succeeded attempt stays succeeded"
    );
    assert_eq!(r.node("escape")["attempts"][0]["killed_descendants"], 3);
    assert_eq!(r.node("escape")["killed_descendants"], 3);
    assert_eq!(r.written()["nodes"][0]["killed_descendants"], 3);
    let out = std::fs::read_to_string(r.run_dir.join("nodes/escape/1/stdout.log")).unwrap();
    assert_eq!(out, "done\n");
    // The run no longer waits for pipes an escaped process holds.
    assert!(took < Duration::from_millis(1900), "{took:?}");
    assert_none_left(&m);
}

#[test]
fn a_tool_that_leaves_nothing_records_zero_killed_descendants() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: z\nnodes:\n  - id: clean\n    run: \"sleep 0.1 | cat; echo ok\"\n",
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.node("clean")["attempts"][0]["killed_descendants"], 0);
}

#[test]
fn escaped_processes_are_ended_on_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let m = markers();
    let started = Instant::now();
    let r = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: t\nnodes:\n  - id: stuck\n    run: \"{}\"\n    timeout: 1\n    kill_grace: 0.5\n",
            escaping(&m, "sleep 30")
        ),
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("stuck"), "timed_out");
    let killed = r.node("stuck")["attempts"][0]["killed_descendants"]
        .as_u64()
        .unwrap();
    assert!(killed >= 3, "killed_descendants {killed}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_none_left(&m);
}

#[test]
fn escaped_processes_are_ended_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let m = markers();
    let recipe = format!(
        "version: \"1.0\"\nname: c\nnodes:\n  - id: stuck\n    run: \"{}\"\n    kill_grace: 0.5\n",
        escaping(&m, "echo up > up; sleep 600")
    );
    let child = command(dir.path(), &recipe, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&dir.path().join("up"), 20),
        "node never started"
    );
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 130, "{}", r.stderr);
    assert_eq!(r.status("stuck"), "cancelled");
    assert!(r.node("stuck")["killed_descendants"].as_u64().unwrap() >= 3);
    assert_none_left(&m);
}

#[test]
fn kill_grace_reaches_a_trap_in_a_grandchild_when_the_leader_dies_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker();
    let r = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: g\nnodes:\n  - id: g\n    run: \"bash -c 'trap \\\"sleep 0.5; echo cleaned > F; exit 0\\\" TERM; sleep {m} & wait'\"\n    timeout: 1\n    kill_grace: 5\n"
        ),
        &[],
    );
    assert_eq!(r.status("g"), "timed_out", "{}", r.stderr);
    let f = std::fs::read_to_string(dir.path().join("F")).unwrap_or_default();
    assert_eq!(f, "cleaned\n", "the trap handler did not get its grace");
    assert_none_left(&[m]);
}

/// Sends `signal` to a run whose node escapes, once the node is up; returns the run.
fn signalled_run(signal: i32) -> (tempfile::TempDir, crate::support::Run, [String; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let m = markers();
    let recipe = format!(
        "version: \"1.0\"\nname: s\nnodes:\n  - id: a\n    run: \"{}\"\n    kill_grace: 0.5\n  - id: b\n    run: \"sleep 600\"\n    kill_grace: 0.5\n",
        escaping(&m, "echo up > up; sleep 600")
    );
    let child = command(dir.path(), &recipe, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&dir.path().join("up"), 20),
        "node never started"
    );
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, signal) };
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    (dir, r, m)
}

#[test]
fn sighup_sigquit_and_sigterm_cancel_with_cleanup_and_their_exit_codes() {
    for (signal, code) in [
        (libc::SIGHUP, 129),
        (libc::SIGQUIT, 131),
        (libc::SIGTERM, 143),
    ] {
        let (_dir, r, m) = signalled_run(signal);
        assert_eq!(r.code, code, "signal {signal}: {}", r.stderr);
        assert_eq!(r.record["status"], "cancelled", "signal {signal}");
        assert_eq!(r.record["exit_code"], code);
        let written = r.written();
        assert_eq!(written["status"], "cancelled", "run.json on disk is final");
        assert_eq!(written, r.record);
        assert_eq!(r.status("a"), "cancelled");
        assert_eq!(r.status("b"), "cancelled");
        assert_none_left(&m);
        let _ = std::fs::remove_dir_all(
            r.run_dir
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap(),
        );
    }
}

/// A recipe with one `sleep` node, run by `sh -c '<prelude>; exec secflow …'`.
fn through_sh(dir: &std::path::Path, recipe: &str, prelude: &str) -> std::process::Child {
    std::fs::write(dir.join("recipe.yaml"), recipe).unwrap();
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{prelude}; exec \"$0\" run-workflow recipe.yaml --state-dir state --format json"
        ))
        .arg(BIN)
        .current_dir(dir)
        .env_remove("SECFLOW_HOME")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_sighup_inherited_as_ignored_stays_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let child = through_sh(
        dir.path(),
        "version: \"1.0\"\nname: n\nnodes:\n  - id: nap\n    run: \"echo up > up; sleep 0.5\"\n",
        "trap '' HUP",
    );
    assert!(
        wait_for_file(&dir.path().join("up"), 20),
        "node never started"
    );
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("nap"), "succeeded");
}

#[test]
fn an_inherited_ignored_sigchld_is_reset() {
    let dir = tempfile::tempdir().unwrap();
    let child = through_sh(
        dir.path(),
        "version: \"1.0\"\nname: c\nnodes:\n  - id: a\n    run: \"true\"\n  - id: b\n    command: [\"sh\", \"-c\", \"exit 0\"]\n    depends_on: [a]\n",
        "trap '' CHLD",
    );
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("a"), "succeeded");
    assert_eq!(r.status("b"), "succeeded");
}

#[test]
fn a_low_open_file_limit_lowers_concurrency_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = String::from("version: \"1.0\"\nname: w\nconcurrency: 300\nnodes:\n");
    for i in 0..300 {
        recipe.push_str(&format!(
            "  - id: s{i}\n    command: [\"sleep\", \"0.1\"]\n"
        ));
    }
    let child = through_sh(dir.path(), &recipe, "ulimit -n 512");
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.record["counts"]["succeeded"], 300, "{}", r.stderr);
    assert_eq!(
        r.stderr.matches("concurrency lowered from 300").count(),
        1,
        "{}",
        r.stderr
    );
    // Tools get the limit secflow was started with, not the raised one.
    let dir2 = tempfile::tempdir().unwrap();
    let child = through_sh(
        dir2.path(),
        "version: \"1.0\"\nname: l\nnodes:\n  - id: l\n    run: \"ulimit -n > limit\"\n",
        "ulimit -S -n 200",
    );
    let r = finish(dir2.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let limit = std::fs::read_to_string(dir2.path().join("limit")).unwrap();
    assert_eq!(limit.trim(), "200");
}

/// `Maximum resident set size` of `/usr/bin/time -v sleep 1`, in bytes.
fn time_v_sleep_rss() -> Option<u64> {
    let out = Command::new("/usr/bin/time")
        .args(["-v", "sleep", "1"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.contains("Maximum resident set size"))?;
    let kb: u64 = line.rsplit(':').next()?.trim().parse().ok()?;
    Some(kb * 1024)
}

/// The memory size of the binary's writable segments (relocated data, GOT, data, bss): what
/// the spawner and its shims hold as private pages however little they do, and what a tool
/// forked from a shim has in its address space until `execve`. Read from the ELF program
/// headers of `path` (64-bit little-endian).
fn writable_segments(path: &str) -> u64 {
    let elf = std::fs::read(path).unwrap();
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF");
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    (0..phnum)
        .map(|i| phoff + i * phentsize)
        // PT_LOAD (1) with PF_W (2): p_memsz at +40.
        .filter(|&h| u32_at(h) == 1 && u32_at(h + 4) & 2 != 0)
        .map(|h| u64_at(h + 40))
        .sum()
}

#[test]
fn a_sleep_nodes_peak_rss_is_the_tools_own() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: m\nnodes:\n  - id: nap\n    command: [\"sleep\", \"1\"]\n",
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rss = r.node("nap")["attempts"][0]["peak_rss_bytes"]
        .as_u64()
        .unwrap();
    let ceiling = match time_v_sleep_rss() {
        // The tool's ru_maxrss is the larger of its own peak and what its address space
        // held before `execve` (CONTAINMENT.md): the shim's copied private pages — the
        // binary's writable segments (1.5 MB in a debug build with the gRPC/TLS stack,
        // growing with the code; ~0.35 MB in a release build, whose `sleep` node reads
        // within 0.1 MB of `time -v`) — plus the code pages the child touches before
        // `execve`, each fault mapping up to 64 KiB around it (a debug build's scattered,
        // uninlined code: 1–2 MB, moving with the layout). So the margin over `time -v` is
        // those segments plus 2 MiB; before the shim existed the figure was 6.5 MB, and a
        // tool forked from secflow itself reads its 30 MB.
        Some(reference) => reference + writable_segments(BIN) + (2 << 20),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "/usr/bin/time is needed for this test under CI"
            );
            eprintln!("/usr/bin/time -v unavailable: comparing with 3 MB absolute");
            3 << 20
        }
    };
    assert!(rss <= ceiling, "sleep node peak RSS {rss} B > {ceiling} B");
}

#[test]
fn a_three_node_run_passes_valgrind() {
    let found = Command::new("valgrind").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "valgrind is needed for this test under CI (apt-get install valgrind)"
        );
        eprintln!("valgrind not installed: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recipe.yaml"),
        "version: \"1.0\"\nname: v\nnodes:\n  - id: a\n    run: \"echo a\"\n  - id: b\n    command: [\"true\"]\n    depends_on: [a]\n  - id: c\n    run: \"echo c >&2\"\n    depends_on: [a]\n",
    )
    .unwrap();
    let out = Command::new("valgrind")
        .args(["--error-exitcode=1", "-q", BIN])
        .args([
            "run-workflow",
            "recipe.yaml",
            "--state-dir",
            "state",
            "--quiet",
        ])
        .current_dir(dir.path())
        .env_remove("SECFLOW_HOME")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a tool sees of its start, printed by the tool itself: its process group, blocked
/// and ignored signals and open descriptors (as the programs it runs inherit them: read by
/// `grep` and `ls` from their own /proc entries), stdin and its working directory.
const INSPECT: &str = "echo pgid=$(cut -d' ' -f5 /proc/$$/stat) pid=$$; grep -E '^(SigBlk|SigIgn)' /proc/self/status; wc -c </dev/stdin; ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; pwd";

#[test]
fn tools_start_in_their_own_group_with_clean_signals_stdin_and_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("work")).unwrap();
    // Two at once: the first runs as the spawner's own child, the second through a shim.
    let mut recipe = String::from("version: \"1.0\"\nname: i\nconcurrency: 2\nnodes:\n");
    for id in ["one", "two"] {
        recipe.push_str(&format!(
            "  - id: {id}\n    command: [\"sh\", \"-c\", \"sleep 0.3; {}\"]\n    workdir: work\n",
            INSPECT.replace('"', "\\\"")
        ));
    }
    let r = run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for id in ["one", "two"] {
        let out =
            std::fs::read_to_string(r.run_dir.join(format!("nodes/{id}/1/stdout.log"))).unwrap();
        let mut lines = out.lines();
        let first = lines.next().unwrap();
        let pid = r.node(id)["attempts"][0]["pid"].as_u64();
        let (pgid, own) = first.split_once(' ').unwrap();
        assert_eq!(
            pgid.trim_start_matches("pgid="),
            own.trim_start_matches("pid="),
            "{id}: {first}"
        );
        if let Some(pid) = pid {
            assert_eq!(
                own,
                format!("pid={pid}"),
                "{id}: run.json names the tool's pid"
            );
        }
        assert_eq!(lines.next().unwrap(), "SigBlk:\t0000000000000000", "{id}");
        let ignored = lines.next().unwrap();
        let mask = u64::from_str_radix(ignored.trim_start_matches("SigIgn:\t"), 16).unwrap();
        for sig in [libc::SIGPIPE, libc::SIGINT, libc::SIGTERM, libc::SIGCHLD] {
            assert_eq!(
                mask & (1 << (sig - 1)),
                0,
                "{id}: signal {sig} ignored: {ignored}"
            );
        }
        assert_eq!(
            lines.next().unwrap().trim(),
            "0",
            "{id}: stdin is /dev/null"
        );
        // 0-2, and the descriptor `ls` opens for its listing: nothing of secflow's (its
        // socket to the spawner) nor of whatever started secflow.
        let fds: Vec<i32> = lines
            .next()
            .unwrap()
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        assert!(fds == [0, 1, 2, 3], "{id}: fds {fds:?}");
        assert!(lines.next().unwrap().ends_with("/work"), "{id}");
    }
}

#[test]
fn a_start_that_fails_is_recorded_as_never_started_with_the_same_reasons() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("noexec"), "#!/bin/sh\n").unwrap();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: f\nnodes:\n  - id: missing\n    command: [\"/nonexistent/program\"]\n  - id: noexec\n    command: [\"./noexec\"]\n  - id: nodir\n    command: [\"true\"]\n    workdir: /nonexistent/secflow-dir\n",
        &["--keep-going"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let error = |id: &str| {
        let a = &r.node(id)["attempts"][0];
        assert!(a["started_at"].is_null(), "{id} never started: {a}");
        a["error"].as_str().unwrap().to_string()
    };
    assert_eq!(
        error("missing"),
        "cannot start `/nonexistent/program`: No such file or directory (os error 2)"
    );
    assert_eq!(
        error("noexec"),
        "cannot start `./noexec`: Permission denied (os error 13)"
    );
    assert_eq!(
        error("nodir"),
        "cannot start `true`: cannot change to working directory /nonexistent/secflow-dir: No such file or directory (os error 2)"
    );
}

#[test]
fn after_a_hangup_a_broken_console_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker();
    let recipe = format!(
        "version: \"1.0\"\nname: h\nnodes:\n  - id: a\n    run: \"setsid sleep {m} & echo up > up; sleep 600\"\n    kill_grace: 0.5\n"
    );
    let mut child = command(dir.path(), &recipe, &["--progress", "always"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&dir.path().join("up"), 20),
        "node never started"
    );
    // The terminal is gone: every console write now fails (EPIPE).
    drop(child.stderr.take());
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(
        r.code, 129,
        "no panic on a console write error: {}",
        r.stderr
    );
    assert_eq!(r.written()["status"], "cancelled");
    assert_none_left(&[m]);
}

#[test]
fn attempts_run_side_by_side_never_wait_for_each_others_pipes() {
    // Shims are reused: one must not keep another attempt's output pipes open (the run
    // would then wait for them, up to its linger bound, at every such attempt's end).
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = String::from("version: \"1.0\"\nname: p\nconcurrency: 4\nnodes:\n");
    for i in 0..16 {
        recipe.push_str(&format!("  - id: n{i}\n    run: \"sleep 0.1; echo {i}\"\n"));
    }
    let r = run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for i in 0..16 {
        let ms = r.node(&format!("n{i}"))["attempts"][0]["duration_ms"]
            .as_u64()
            .unwrap();
        assert!(ms < 1500, "attempt n{i} took {ms} ms");
    }
}

/// Found by the adversarial probe: a tool that stops its shim (`kill -STOP $PPID`) held the
/// run past its timeout and past SIGINT, and what it had started stayed alive. A stop request
/// continues the shim, so the timeout still ends the attempt and everything it left.
#[test]
fn a_tool_that_stops_its_shim_cannot_outlive_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let m = marker();
    let started = Instant::now();
    let r = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: t\nnodes:\n  - id: a\n    timeout: 2\n    kill_grace: 1\n    run: \"setsid sleep {m} & kill -STOP $PPID; sleep 0.2; exit 0\"\n"
        ),
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?} {}",
        started.elapsed(),
        r.stderr
    );
    assert_ne!(r.status("a"), "running", "{}", r.stderr);
    assert_none_left(std::slice::from_ref(&m));
    // Without a timeout: the spawner continues a stopped shim on its own, so the node ends
    // when its tool does, and its escapee with it.
    let m = marker();
    let started = Instant::now();
    let r = run(
        dir.path(),
        &format!(
            "version: \"1.0\"\nname: t\nnodes:\n  - id: a\n    kill_grace: 1\n    run: \"setsid sleep {m} & kill -STOP $PPID; sleep 0.2; exit 0\"\n"
        ),
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status("a"), "succeeded", "{}", r.stderr);
    assert_none_left(std::slice::from_ref(&m));
}

/// secflow itself SIGKILLed mid-run (no clean-up of its own): the spawner sees its parent
/// die and has every shim — the ones secflow drives directly included — end its tree; the
/// shims and the spawner exit too. Nothing of the run is left.
#[test]
fn a_sigkilled_secflow_leaves_no_tool_shim_or_spawner() {
    let dir = tempfile::tempdir().unwrap();
    let m = markers();
    let recipe = format!(
        "version: \"1.0\"\nname: k\nnodes:\n  - id: a\n    run: \"{}\"\n  - id: b\n    run: \"sleep {}\"\n",
        escaping(&m, "echo up > up; sleep 600"),
        m[0]
    );
    let mut child = command(dir.path(), &recipe, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for_file(&dir.path().join("up"), 20),
        "node never started"
    );
    std::thread::sleep(Duration::from_millis(100));
    let helpers = format!("--secflow-internal-spawner 3 {} ", child.id());
    assert!(!with_marker(&helpers).is_empty(), "no spawner or shim seen");
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    // Under the spawner's own last resort (a SIGKILL sweep 5 s after it was told to stop):
    // the shims end their trees at once.
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline
        && m.iter()
            .chain([&helpers])
            .any(|k| !with_marker(k).is_empty())
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_none_left(&[m[0].clone(), m[1].clone(), m[2].clone(), helpers]);
}

/// Attack (adversarial review): a tool wrote a forged 64-byte `Ended { status: 0 }` report
/// into its shim's report pipe, opened through `/proc/$PPID/fd/*` (its parent runs as the
/// same user), and went on running: secflow recorded it succeeded at once (exit 0, no CPU),
/// the next node's timeout ran on the tool's time, and the tool outlived its recorded end.
/// Reports now go over a socket, which `/proc` cannot open (root tools included).
#[test]
fn a_tool_cannot_forge_its_shims_report() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: forge
nodes:
  - id: a
    run: |
      for f in /proc/$PPID/fd/*; do
        { printf '\003'; head -c 63 /dev/zero; } > "$f" 2>/dev/null && echo "$f" >> opened
      done
      sleep 1
      exit 7
"#;
    let r = run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let a = r.node("a");
    assert_eq!(a["status"], "failed", "{a}");
    let attempt = &a["attempts"][0];
    assert_eq!(attempt["exit_code"], 7, "the forged end was taken: {a}");
    assert!(
        attempt["duration_ms"].as_u64().unwrap_or(0) >= 900,
        "ended before the tool did: {a}"
    );
}

/// The spawner and the shims are not dumpable: a tool running as the same (non-root) user
/// cannot list its shim's descriptors, read its environment or its memory map — nor
/// `ptrace` it or take its descriptors with `pidfd_getfd`, which need at least as much. The
/// run goes as `nobody` (setpriv), so it needs root to start.
#[test]
fn a_non_root_tool_cannot_reach_into_its_shim() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: running secflow as another user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("secflow");
    std::fs::copy(BIN, &bin).unwrap();
    let recipe = r#"
version: "1.0"
name: reach
nodes:
  - id: a
    run: |
      ls /proc/$PPID/fd >/dev/null 2>&1 && echo fd-listed >> probe
      head -c 1 /proc/$PPID/environ >/dev/null 2>&1 && echo environ-read >> probe
      cat /proc/$PPID/maps >/dev/null 2>&1 && echo maps-read >> probe
      ls /proc/$$/fd >/dev/null 2>&1 && echo own-fds-listed >> probe
"#;
    std::fs::write(dir.path().join("recipe.yaml"), recipe).unwrap();
    for entry in [
        dir.path().to_path_buf(),
        bin.clone(),
        dir.path().join("recipe.yaml"),
    ] {
        std::os::unix::fs::chown(&entry, Some(65534), Some(65534)).unwrap();
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["run", "recipe.yaml", "--state-dir", "state", "--quiet"])
        .env("HOME", dir.path())
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir(dir.path())
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let probe = std::fs::read_to_string(dir.path().join("probe")).unwrap_or_default();
    // The tool itself works (its own descriptors), its shim is out of reach.
    assert_eq!(probe.trim(), "own-fds-listed", "{stderr}");
}

/// Attack (adversarial review): the spawner runs as the tools' user, so a tool can
/// `kill -STOP` it (the shim's parent). The next start that needed a new shim then waited for
/// the spawner's answer forever, on the engine's thread: the run hung, its record stayed
/// `running`, and SIGTERM did nothing. A stopped spawner is now continued.
#[test]
fn a_tool_that_stops_the_spawner_cannot_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: freeze
concurrency: 4
nodes:
  - id: stop
    run: 'kill -STOP "$(awk "{print \$4}" /proc/$PPID/stat)"'
  - id: b1
    run: "sleep 0.2"
    depends_on: [stop]
  - id: b2
    run: "sleep 0.2"
    depends_on: [stop]
  - id: b3
    run: "sleep 0.2"
    depends_on: [stop]
"#;
    let mut child = command(dir.path(), recipe, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run hung after its tool stopped the spawner:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    for n in ["stop", "b1", "b2", "b3"] {
        assert_eq!(r.status(n), "succeeded", "{n}: {}", r.stderr);
    }
}
