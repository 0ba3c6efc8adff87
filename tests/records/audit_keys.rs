//! Audit keys and crashes: the default key file (created 0600, refused when readable by
//! others), key sources in order, the key and secret values never written anywhere, and a
//! writer killed with SIGKILL mid-run leaving a chain that verifies as an unfinished prefix.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::audit_support;
use crate::audit_support::{
    Ending, KEY_HEX, RUN_ID, read_lines, verify_json, write_lines, write_run_with,
};
use crate::support::TestRun;
use secflow::audit::{AuditKey, Origin};
use secflow::engine::{Event, Sink as _};
use secflow::sinks::AuditSink;
use secflow::store::{AttemptRecord, NodeStatus};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_default_key_is_created_0600_and_found_by_verify() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = AuditKey::for_run(None, None, &state).unwrap();
    let key_file = state.join("audit.key");
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
    let again = AuditKey::for_run(None, None, &state).unwrap();
    assert_eq!(key.key_id(), again.key_id());
    assert_eq!(key.key_id().len(), 16);

    let run = write_run_with(&state, 3, Ending::Finished, &key);
    let state_arg = state.to_str().unwrap();
    let out = TestRun::cmd(["audit", "verify", "--state-dir", state_arg, "last"]).output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // A run directory path finds the key of the state directory it lives in.
    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()]).output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // ... and with that key, a deleted event is tampering, not a key problem.
    let audit = run.join("audit.jsonl");
    let mut lines = read_lines(&audit);
    lines.remove(3);
    write_lines(&audit, &lines);
    let out = TestRun::cmd(["audit", "verify", run.to_str().unwrap()]).output();
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // Readable by others: refused with a clear message, exit 2.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = TestRun::cmd(["audit", "verify", "--state-dir", state_arg]).output();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(AuditKey::for_run(None, None, &state).is_err());
}

/// Issue 18 (b): `./.secflow/audit.key` in the working directory must not win over the key
/// of the state directory that holds the run being verified.
#[test]
fn verify_by_path_uses_the_key_of_the_state_dir_holding_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = AuditKey::for_run(None, None, &state).unwrap();
    let run = write_run_with(&state, 3, Ending::Finished, &key);
    let cwd = dir.path().join("elsewhere");
    let other = AuditKey::for_run(None, None, &cwd.join(".secflow")).unwrap();
    assert_ne!(other.key_id(), key.key_id());
    let verify = |target: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_secflow"))
            .current_dir(&cwd)
            .args(["audit", "verify"])
            .arg(target)
            .env_remove("SECFLOW_HOME")
            .env_remove("SECFLOW_AUDIT_KEY")
            .output()
            .unwrap()
    };
    for target in [run.clone(), run.join("audit.jsonl")] {
        let out = verify(&target);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    // A run in the current state directory is verified with that directory's key as before.
    let here = write_run_with(&cwd.join(".secflow"), 2, Ending::Finished, &other);
    assert_eq!(verify(&here).status.code(), Some(0));
}

#[test]
fn key_sources_come_in_order_and_are_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let run = audit_support::write_run(dir.path(), 2, Ending::Finished);
    let target = run.to_str().unwrap();

    // base64 of the same 32 bytes.
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    assert_eq!(
        TestRun::cmd(["audit", "verify", target])
            .env("SECFLOW_AUDIT_KEY", b64)
            .output()
            .status
            .code(),
        Some(0)
    );

    // --audit-key-file with the key as hex text; the environment wins over it.
    let key_file = dir.path().join("k.hex");
    std::fs::write(&key_file, format!("{KEY_HEX}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let kf = key_file.to_str().unwrap();
    let with_file = ["audit", "verify", "--audit-key-file", kf, target];
    assert_eq!(TestRun::cmd(with_file).output().status.code(), Some(0));
    let wrong_env = "dd".repeat(32);
    assert_eq!(
        TestRun::cmd(with_file)
            .env("SECFLOW_AUDIT_KEY", &wrong_env)
            .output()
            .status
            .code(),
        Some(2)
    );

    let bad = "not-a-key-but-a-secret-looking-value!";
    let out = TestRun::cmd(["audit", "verify", target])
        .env("SECFLOW_AUDIT_KEY", bad)
        .output();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("SECFLOW_AUDIT_KEY must be hex or base64"),
        "{stderr}"
    );
    assert!(!stderr.contains(bad), "{stderr}");
}

#[test]
fn neither_the_key_nor_secret_values_appear_in_the_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = audit_support::write_run(dir.path(), 4, Ending::Finished);
    let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    let raw: Vec<u8> = (0u8..32).collect();
    for entry in std::fs::read_dir(&run).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(KEY_HEX) && !text.contains(b64));
        assert!(!bytes.windows(raw.len()).any(|w| w == raw.as_slice()));
        assert!(!text.contains("s3cr3t-value"), "secret leaked");
    }
    let audit = std::fs::read_to_string(run.join("audit.jsonl")).unwrap();
    assert!(audit.contains("[REDACTED]"));
    assert!(audit.contains(r#""secret_name":"API_TOKEN""#));
}

/// Not a test on its own: the writer process that `a_writer_killed_mid_run_*` kills.
#[test]
#[ignore = "run as a child process by a_writer_killed_mid_run_leaves_an_unfinished_prefix"]
fn child_writer() {
    let Some(state) = std::env::var_os("AUDIT_CHILD_STATE") else {
        return;
    };
    let run_dir = Path::new(&state).join("runs").join(RUN_ID);
    let ctx = audit_support::context(&run_dir, audit_support::plan(3));
    let mut sink =
        AuditSink::create(&ctx, &audit_support::key(), &Origin::discover(&run_dir)).unwrap();
    audit_support::write_json(&run_dir.join("run.json"), &audit_support::run_record(&ctx));
    let at = std::time::SystemTime::now;
    sink.event(&ctx, &Event::RunStarted { at: at() });
    for attempt in 1u32.. {
        let node = attempt as usize % 3;
        sink.event(
            &ctx,
            &Event::AttemptStarted {
                node,
                attempt,
                node_span_id: "0000000000000001".into(),
                span_id: "0000000000000002".into(),
                pid: None,
                executor_job_id: None,
                at: at(),
            },
        );
        let record = AttemptRecord {
            attempt,
            status: NodeStatus::Failed,
            exit_code: Some(1),
            signal: None,
            queued_at: String::new(),
            started_at: None,
            ended_at: None,
            queue_wait_ms: None,
            duration_ms: Some(1),
            cpu_user_ms: None,
            cpu_system_ms: None,
            peak_rss_bytes: None,
            retry_delay_ms: None,
            executor_job_id: None,
            error: None,
            read_bytes: None,
            write_bytes: None,
            killed_descendants: None,
        };
        sink.event(
            &ctx,
            &Event::AttemptFinished {
                node,
                record,
                at: at(),
            },
        );
        sink.event(
            &ctx,
            &Event::NodeRetrying {
                node,
                next_attempt: attempt + 1,
                delay: Duration::from_millis(1),
                error: "exit 1".into(),
                at: at(),
            },
        );
    }
}

#[test]
fn a_writer_killed_mid_run_leaves_an_unfinished_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "audit_keys::child_writer",
            "--nocapture",
        ])
        .env("AUDIT_CHILD_STATE", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let run = dir.path().join("runs").join(RUN_ID);
    let audit = run.join("audit.jsonl");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the chain is well under way, then SIGKILL the writer mid-stream.
    while std::fs::metadata(&audit).map_or(0, |m| m.len()) < 200_000 {
        assert!(Instant::now() < deadline, "the writer never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, json) = verify_json(&run, Some(KEY_HEX));
    assert_eq!(json["status"], "unfinished", "{json:#}");
    assert_eq!(code, 3);
    assert!(json["events"].as_u64().unwrap() > 100, "{json:#}");
    assert!(json["torn_lines"].as_u64().unwrap() <= 1);
}
