//! `secflow audit verify` on chains written by the real `AuditSink`: intact, each kind of
//! tampering (named with the right seq), wrong key, unfinished and torn chains, a long chain
//! in bounded memory; and the figures `bench/audit.sh` prints (`bench_audit`, ignored).
#![allow(unsafe_code)] // libc calls in tests

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::audit_support;
use crate::audit_support::{
    Ending, KEY_HEX, RUN_ID, context, key, plan, read_lines, run_record, verify_json, write_json,
    write_lines, write_run,
};
use crate::support::TestRun;
use secflow::audit::Origin;
use secflow::engine::{Event, RunContext, Sink as _};
use secflow::sinks::AuditSink;
use secflow::store::RunStatus;

/// 5 nodes: started, plugin.loaded, secret.accessed, 2 per node, 2 more for the retried
/// node, completed.
const EVENTS: u64 = 16;

fn finished() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 5, Ending::Finished);
    (dir, run)
}

fn assert_tampered(run: &Path, kind: &str, seq: u64) {
    let (code, json) = verify_json(run, Some(KEY_HEX));
    assert_eq!(json["status"], "tampered", "{json:#}");
    assert_eq!(json["tamper"]["kind"], kind, "{json:#}");
    assert_eq!(json["tamper"]["seq"], seq, "{json:#}");
    assert_eq!(code, 1);
}

fn audit(run: &Path) -> std::path::PathBuf {
    run.join("audit.jsonl")
}

#[test]
fn intact_finished_run_exits_0_with_a_one_line_summary() {
    let (_dir, run) = finished();
    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(
        stdout.starts_with(&format!("intact: {EVENTS} events, 2026-")),
        "{stdout}"
    );
    assert!(stdout.contains("key 630dcd2966c43366"), "{stdout}");

    let (code, json) = verify_json(&run, Some(KEY_HEX));
    assert_eq!(code, 0);
    assert_eq!(json["events"], EVENTS);
    assert_eq!(json["anchor_verified"], true);
    assert_eq!(json["run_id"], audit_support::RUN_ID);
}

#[test]
fn run_is_found_by_id_prefix_and_last_under_the_state_dir() {
    let (dir, _run) = finished();
    let state = dir.path().to_str().unwrap();
    for target in ["01JD0000000000000000000000", "01JD", "last"] {
        let out = TestRun::cmd(["audit", "verify", "--state-dir", state, target])
            .env("SECFLOW_AUDIT_KEY", KEY_HEX)
            .output();
        assert_eq!(out.status.code(), Some(0), "{target}: {out:?}");
    }
    let out = TestRun::cmd(["audit", "verify", "--state-dir", state, "nope"])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run matches"));
}

#[test]
fn editing_one_byte_of_an_event_is_named_edited() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    // Line 6 is seq 6: change one digit of its timestamp.
    let at = lines[5].find("\"timestamp\":\"2026").unwrap() + 16;
    let mut bytes = lines[5].clone().into_bytes();
    bytes[at] = if bytes[at] == b'1' { b'2' } else { b'1' };
    lines[5] = String::from_utf8(bytes).unwrap();
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "edited", 6);
}

#[test]
fn a_line_that_is_no_longer_json_is_named_edited() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    lines[3].insert(0, '#');
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "edited", 4);
}

#[test]
fn inserting_a_copy_is_named_inserted() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    let copy = lines[3].clone();
    lines.insert(4, copy);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "inserted", 5);
}

#[test]
fn inserting_a_copy_of_a_later_event_is_named_inserted() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    let copy = lines[10].clone();
    lines.insert(4, copy);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "inserted", 5);
}

#[test]
fn deleting_an_event_is_named_deleted() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    lines.remove(6);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "deleted", 7);

    let mut lines = read_lines(&audit(&run));
    lines.remove(0);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "deleted", 1);
}

#[test]
fn swapping_two_events_is_named_reordered() {
    let (_dir, run) = finished();
    let original = read_lines(&audit(&run));
    let mut lines = original.clone();
    lines.swap(7, 8);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "reordered", 8);

    let mut lines = original;
    lines.swap(2, 11);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "reordered", 3);
}

#[test]
fn cutting_the_tail_is_named_truncated() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    lines.truncate(13);
    write_lines(&audit(&run), &lines);
    assert_tampered(&run, "truncated", 14);
    // The FILE form finds run.json beside the file.
    assert_tampered(&audit(&run), "truncated", 14);
}

#[test]
fn cutting_the_tail_and_rewriting_run_json_is_caught_by_the_anchor() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    lines.truncate(13);
    let last: serde_json::Value = serde_json::from_str(&lines[12]).unwrap();
    write_lines(&audit(&run), &lines);
    let run_json = run.join("run.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run_json).unwrap()).unwrap();
    record["audit"]["events"] = 13.into();
    record["audit"]["last_hash"] = last["hash"].clone();
    audit_support::write_json(&run_json, &record);
    assert_tampered(&run, "truncated", 14);

    // Removing the anchor too: run.json still says the run ended, the chain does not.
    record["audit"]["anchor"] = serde_json::Value::Null;
    audit_support::write_json(&run_json, &record);
    assert_tampered(&run, "truncated", 14);
}

#[test]
fn a_forged_anchor_is_named_edited() {
    let (_dir, run) = finished();
    let run_json = run.join("run.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run_json).unwrap()).unwrap();
    record["audit"]["anchor"] = "0".repeat(64).into();
    audit_support::write_json(&run_json, &record);
    assert_tampered(&run, "edited", EVENTS);
}

#[test]
fn a_wrong_key_exits_2_and_says_wrong_key() {
    let (_dir, run) = finished();
    let other = "ff".repeat(32);
    let (code, json) = verify_json(&run, Some(&other));
    assert_eq!(code, 2);
    assert_eq!(json["status"], "wrong_key");
    assert_eq!(json["chain_key_id"], "630dcd2966c43366");

    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()])
        .env("SECFLOW_AUDIT_KEY", &other)
        .output();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("wrong key"), "{stderr}");
    assert!(!stderr.contains("tamper"), "{stderr}");
    assert!(!stderr.contains(&other), "{stderr}");
}

#[test]
fn an_unfinished_run_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 5, Ending::Crashed);
    let (code, json) = verify_json(&run, Some(KEY_HEX));
    assert_eq!(json["status"], "unfinished", "{json:#}");
    assert_eq!(json["events"], EVENTS - 1);
    assert_eq!(code, 3);
    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("unfinished: "));
}

#[test]
fn a_torn_last_line_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 5, Ending::Crashed);
    let path = audit(&run);
    let lines = read_lines(&path);
    // A kill -9 in the middle of writing a copy of the last line.
    let mut text = lines.join("\n") + "\n";
    text.push_str(&lines[lines.len() - 1][..100]);
    std::fs::write(&path, text).unwrap();
    let (code, json) = verify_json(&run, Some(KEY_HEX));
    assert_eq!(json["status"], "unfinished", "{json:#}");
    assert_eq!(json["torn_lines"], 1);
    assert_eq!(json["events"], EVENTS - 1);
    assert_eq!(code, 3);
}

#[test]
fn an_empty_chain_of_a_run_still_running_is_unfinished() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 1, Ending::Crashed);
    std::fs::write(audit(&run), "").unwrap();
    let (code, json) = verify_json(&run, Some(KEY_HEX));
    assert_eq!((code, json["events"].as_u64()), (3, Some(0)));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing/audit.jsonl");
    let out = TestRun::cmd(["audit", "verify", missing.to_str().unwrap()])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    assert_eq!(out.status.code(), Some(2));
    let out = TestRun::cmd([
        "audit",
        "verify",
        "--state-dir",
        dir.path().to_str().unwrap(),
    ])
    .env("SECFLOW_AUDIT_KEY", KEY_HEX)
    .output();
    assert_eq!(out.status.code(), Some(2));
    let out = TestRun::cmd(["audit", "verify", "a", "b"])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_thousand_node_run_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), 1000, Ending::Finished);
    let (code, json) = verify_json(&run, Some(KEY_HEX));
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["events"], 3 + 2 * 1000 + 2 + 1);
}

/// Writes a finished run of exactly `events` audit events (at least 5) under `state`.
fn long_chain(state: &Path, events: u64) -> PathBuf {
    let run_dir = state.join("runs").join(RUN_ID);
    let ctx = context(&run_dir, plan(3));
    let mut sink = AuditSink::create(&ctx, &key(), &Origin::discover(state)).unwrap();
    let t0 = ctx.started_at;
    sink.event(&ctx, &Event::RunStarted { at: t0 });
    // started, plugin.loaded, secret.accessed = 3; the terminal event is the last.
    let mut attempt = 1u32;
    while sink.events() < events - 1 {
        let node = attempt as usize % 3;
        let at = t0 + Duration::from_millis(u64::from(attempt));
        let event = if attempt % 2 == 1 {
            Event::AttemptStarted {
                node,
                attempt,
                node_span_id: format!("{:016x}", node + 1),
                span_id: format!("{:016x}", attempt),
                pid: Some(4242),
                executor_job_id: None,
                at,
            }
        } else {
            Event::NodeRetrying {
                node,
                next_attempt: attempt + 1,
                delay: Duration::from_millis(10),
                error: "exit code 1".into(),
                at,
            }
        };
        sink.event(&ctx, &event);
        attempt += 1;
    }
    sink.event(
        &ctx,
        &Event::RunFinished {
            status: RunStatus::Succeeded,
            exit_code: 0,
            at: SystemTime::now(),
        },
    );
    let mut record = run_record(&ctx);
    record.status = RunStatus::Succeeded;
    record.exit_code = Some(0);
    sink.finish(&ctx, &mut record).unwrap();
    assert_eq!(sink.events(), events);
    write_json(&run_dir.join("run.json"), &record);
    run_dir
}

/// What one verification cost.
struct Cost {
    wall: Duration,
    /// User + system CPU time of all children reaped so far.
    cpu: Duration,
    /// Peak RSS of the largest child reaped so far.
    rss: u64,
}

/// Runs `secflow audit verify --format json` on `run`; returns what it cost and its output.
fn timed_verify(run: &Path) -> (Cost, serde_json::Value) {
    use std::io::Read as _;
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, for its rusage
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_secflow"))
        .args(["audit", "verify", "--format", "json"])
        .arg(run)
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    // This child's own rusage (wait4), not RUSAGE_CHILDREN: tests in this binary run in
    // parallel and their children must not count.
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid and wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own unreaped child; the pointers are to live locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let elapsed = start.elapsed();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    let json = serde_json::from_slice(&stdout).unwrap();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cost = Cost {
        wall: elapsed,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        rss: usage.ru_maxrss as u64 * 1024,
    };
    (cost, json)
}

#[test]
fn a_long_chain_verifies_in_bounded_memory() {
    let small_dir = tempfile::tempdir().unwrap();
    let small_rss = timed_verify(&long_chain(small_dir.path(), 100)).0.rss;
    let dir = tempfile::tempdir().unwrap();
    let run = long_chain(dir.path(), 20_000);
    let size = std::fs::metadata(run.join("audit.jsonl")).unwrap().len();
    let (cost, json) = timed_verify(&run);
    let rss = cost.rss;
    assert_eq!(json["status"], "intact");
    assert_eq!(json["events"], 20_000);
    assert!(size > 15_000_000, "the chain is {size} bytes");
    assert!(
        rss < small_rss + 4_000_000,
        "verify peaked at {rss} bytes for a {size}-byte chain, {small_rss} for 100 events"
    );
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    // SAFETY: an all-zero rusage is valid and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is to a live local.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// `AUDIT_BENCH_EVENTS` (default 100 000) events: prints the figures.
#[test]
#[ignore = "a benchmark: run by bench/audit.sh with --release"]
fn bench_audit() {
    let events: u64 = std::env::var("AUDIT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    // AUDIT_BENCH_DIR keeps the chain for profiling.
    let state = std::env::var_os("AUDIT_BENCH_DIR").map_or(dir.path().to_path_buf(), PathBuf::from);

    let (start, cpu0) = (Instant::now(), thread_cpu());
    let run = long_chain(&state, events);
    let (write, write_cpu) = (start.elapsed(), thread_cpu() - cpu0);
    let size = std::fs::metadata(run.join("audit.jsonl")).unwrap().len();
    let (cost, json) = timed_verify(&run);
    assert_eq!(json["status"], "intact");
    println!(
        "audit write: {events} events in {:.3} s wall, {:.3} s CPU = {:.0} events per \
         CPU-second (AuditSink, {size} bytes)",
        write.as_secs_f64(),
        write_cpu.as_secs_f64(),
        events as f64 / write_cpu.as_secs_f64(),
    );
    println!(
        "audit verify: {events} events in {:.3} s wall = {:.0} events/s; {:.3} s CPU = {:.0} \
         events per CPU-second; peak RSS {:.1} MiB",
        cost.wall.as_secs_f64(),
        events as f64 / cost.wall.as_secs_f64(),
        cost.cpu.as_secs_f64(),
        events as f64 / cost.cpu.as_secs_f64(),
        cost.rss as f64 / 1048576.0
    );

    // The sink's cost on the CHAIN-1000 event stream (1000 nodes in a chain).
    let ctx_dir = dir.path().join("chain1000");
    let ctx: RunContext = context(&ctx_dir, plan(1000));
    let stream = audit_support::events(&ctx);
    let (start, cpu0) = (Instant::now(), thread_cpu());
    let mut sink = AuditSink::create(&ctx, &key(), &Origin::discover(dir.path())).unwrap();
    for e in &stream {
        sink.event(&ctx, e);
    }
    let mut record = run_record(&ctx);
    record.status = RunStatus::Succeeded;
    sink.finish(&ctx, &mut record).unwrap();
    let (took, cpu) = (start.elapsed(), thread_cpu() - cpu0);
    println!(
        "audit sink on CHAIN-1000: {} engine events -> {} audit events in {:.1} ms wall, \
         {:.1} ms CPU",
        stream.len(),
        sink.events(),
        took.as_secs_f64() * 1000.0,
        cpu.as_secs_f64() * 1000.0
    );
}

#[test]
fn editing_run_json_audit_summary_alone_is_named_edited() {
    let (_dir, run) = finished();
    let run_json = run.join("run.json");
    let mut record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run_json).unwrap()).unwrap();
    record["audit"]["events"] = 99.into();
    audit_support::write_json(&run_json, &record);
    // The signed anchor proves the chain complete: run.json's count is what was edited.
    assert_tampered(&run, "edited", EVENTS);
    record["audit"]["events"] = EVENTS.into();
    record["audit"]["last_hash"] = "1".repeat(64).into();
    audit_support::write_json(&run_json, &record);
    assert_tampered(&run, "edited", EVENTS);
}

/// SPEC §10: a head kept by a witness catches a chain cut or rewritten by someone holding
/// the key (who can re-sign the chain and run.json's anchor).
#[test]
fn a_witness_head_catches_a_chain_cut_or_rewritten_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let run = audit_support::write_run(&state, 3, Ending::Finished);
    let target = run.to_str().unwrap();
    let out = TestRun::cmd(["audit", "head", target]).output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    let head: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(head["run_id"], audit_support::RUN_ID);
    assert_eq!(head["finished"], true);
    assert_eq!(head["key_id"].as_str().unwrap().len(), 16);
    let seq = head["seq"].as_u64().unwrap();
    assert!(seq > 3, "{head}");
    let witness = dir.path().join("witness.jsonl");
    // Another run's head in the same file is ignored.
    let other = line.replace(audit_support::RUN_ID, "01JDOTHER00000000000000000");
    std::fs::write(&witness, format!("{other}{line}")).unwrap();
    let w = witness.to_str().unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", target];
        args.extend_from_slice(extra);
        TestRun::cmd(&args)
            .env("SECFLOW_AUDIT_KEY", KEY_HEX)
            .output()
    };
    assert_eq!(verify(&["--witness", w]).status.code(), Some(0));

    // The key holder rewrites the run with fewer nodes: a consistent, anchored chain...
    std::fs::remove_dir_all(&run).unwrap();
    audit_support::write_run(&state, 1, Ending::Finished);
    assert_eq!(verify(&[]).status.code(), Some(0));
    // ... that the witness shows is shorter than what was seen.
    let out = verify(&["--witness", w]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tampered") && text.contains(&format!("witness saw seq {seq}")),
        "{text}"
    );

    // Rewritten to the same length: a different hash at the witnessed seq.
    std::fs::remove_dir_all(&run).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    audit_support::write_run(&state, 3, Ending::Finished);
    let out = verify(&["--witness", w]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("rewritten"));

    // A witness with no head of this run is a usage error.
    std::fs::write(&witness, other).unwrap();
    assert_eq!(verify(&["--witness", w]).status.code(), Some(2));
}

/// SPEC §10: a chain stopped by a record write error is an unfinished prefix (exit 3) with
/// its cut signed in run.json; cutting it shorter still is tampering.
#[test]
fn a_chain_stopped_by_a_record_failure_is_unfinished_and_its_cut_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("runs").join(RUN_ID);
    let ctx = context(&run_dir, plan(3));
    let mut sink = AuditSink::create(&ctx, &key(), &Origin::discover(dir.path())).unwrap();
    let all = audit_support::events(&ctx);
    let half = all.len() / 2;
    for e in &all[..half] {
        sink.event(&ctx, e);
    }
    sink.idle();
    ctx.records
        .fail("cannot write logs.jsonl: No space left on device");
    for e in &all[half..] {
        sink.event(&ctx, e);
    }
    let mut record = run_record(&ctx);
    record.status = RunStatus::Failed;
    record.exit_code = Some(4);
    record.reason = Some("records incomplete".into());
    sink.finish(&ctx, &mut record).unwrap();
    drop(sink);
    let audit = record.audit.clone().unwrap();
    assert!(audit.anchor.is_none() && audit.cut.is_some(), "{audit:?}");
    let lines = read_lines(&run_dir.join("audit.jsonl"));
    assert_eq!(audit.events, lines.len() as u64);
    write_json(&run_dir.join("run.json"), &record);
    let (code, report) = verify_json(&run_dir, Some(KEY_HEX));
    assert_eq!(code, 3, "{report}");
    // The python verifier agrees.
    let py = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/verify_audit.py"
        ))
        .arg(run_dir.join("audit.jsonl"))
        .arg(run_dir.join("run.json"))
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    if let Ok(py) = py {
        assert_eq!(py.status.code(), Some(3), "{py:?}");
    }
    let mut shorter = lines.clone();
    shorter.pop();
    write_lines(&run_dir.join("audit.jsonl"), &shorter);
    let (code, report) = verify_json(&run_dir, Some(KEY_HEX));
    assert_eq!(code, 1, "{report}");
}

/// A hostile key id in an edited chain is escaped in the message, and an audit.jsonl that is
/// a FIFO is refused (exit 2, naming it) instead of blocking verify (issue 24 points 2, 7).
#[test]
fn hostile_key_ids_are_escaped_and_a_fifo_chain_is_refused() {
    let (_dir, run) = finished();
    let mut lines = read_lines(&audit(&run));
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    first["key_id"] = "x\u{1b}]0;PWNED\u{7}".into();
    lines[0] = first.to_string();
    write_lines(&audit(&run), &lines);
    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(['\u{1b}', '\u{7}']), "{all:?}");

    std::fs::remove_file(audit(&run)).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(audit(&run))
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()])
        .env("SECFLOW_AUDIT_KEY", KEY_HEX)
        .output();
    assert!(started.elapsed() < Duration::from_secs(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("audit.jsonl") && stderr.contains("FIFO"),
        "{stderr}"
    );
}
