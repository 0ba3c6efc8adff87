//! SPEC §10 "The state directory is trusted or refused" and "The audit key is out of the
//! nodes' reach": a state directory, `runs/` or default key that is a symlink, foreign or
//! writable by others is refused before any node runs (read-only commands warn); what
//! secflow creates is private whatever the umask; no node finds the audit key in its own
//! environment or in the environment block of any of its ancestors.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::Command;

use crate::support::{BIN, command, finish, run};

/// A recipe whose only node leaves a marker file: its absence proves no node ran.
const MARKER: &str = "version: \"1.0\"\nname: t\nnodes:\n  - id: mark\n    run: \"touch ran\"\n";

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Runs MARKER against a prepared state directory: refused with exit 2, the message names
/// `what`, and the node never ran.
fn assert_refused(dir: &Path, what: &str) {
    let r = run(dir, MARKER, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("untrusted state directory"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(what), "wanted `{what}` in: {}", r.stderr);
    assert!(
        !dir.join("ran").exists(),
        "a node ran in an untrusted state dir"
    );
}

#[test]
fn a_fresh_state_dir_is_private_whatever_the_umask() {
    // 0277 would leave a directory made with mode 0700 at 0500.
    for umask in ["000", "0277"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("recipe.yaml"), MARKER).unwrap();
        let script = format!(
            "umask {umask}; exec \"$0\" run-workflow recipe.yaml --state-dir state --format json"
        );
        let out = Command::new("sh")
            .current_dir(dir.path())
            .args(["-c", &script])
            .arg(BIN)
            .env_remove("SECFLOW_HOME")
            .env_remove("SECFLOW_AUDIT_KEY")
            .output()
            .unwrap();
        let r = finish(dir.path(), out);
        assert_eq!(r.code, 0, "umask {umask}: {}", r.stderr);
        let state = dir.path().join("state");
        assert_eq!(mode(&state), 0o700, "umask {umask}");
        assert_eq!(mode(&state.join("runs")), 0o700, "umask {umask}");
        assert_eq!(mode(&r.run_dir), 0o700, "umask {umask}");
        assert_eq!(mode(&state.join("audit.key")), 0o600, "umask {umask}");
    }
}

#[test]
fn group_or_other_writable_state_dir_or_runs_is_refused() {
    for (sub, bits) in [("", 0o770), ("", 0o707), ("runs", 0o730), ("runs", 0o1777)] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("state").join(sub);
        std::fs::create_dir_all(&target).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(bits)).unwrap();
        assert_refused(dir.path(), "chmod go-w");
        // A command that only reads warns and goes on.
        let out = Command::new(BIN)
            .current_dir(dir.path())
            .args(["runs", "list", "--state-dir", "state"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("warning: untrusted state directory"), "{err}");
    }
}

#[test]
fn symlinked_state_dir_runs_or_default_key_is_refused() {
    // The state directory itself.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("state")).unwrap();
    assert_refused(dir.path(), "is a symlink");
    // Its runs/.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("../elsewhere", dir.path().join("state/runs")).unwrap();
    assert_refused(dir.path(), "runs is a symlink");
    assert_eq!(
        std::fs::read_dir(dir.path().join("elsewhere"))
            .unwrap()
            .count(),
        0
    );
    // The default key.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let other = dir.path().join("other.key");
    std::fs::write(&other, "00112233445566778899aabbccddeeff").unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&other, dir.path().join("state/audit.key")).unwrap();
    assert_refused(dir.path(), "audit.key is a symlink");
}

#[test]
fn a_foreign_state_dir_runs_or_key_is_refused() {
    if !is_root() {
        eprintln!("skipped: chown to another uid needs root");
        return;
    }
    for path in ["state", "state/runs", "state/audit.key"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("state/runs")).unwrap();
        let key = dir.path().join("state/audit.key");
        std::fs::write(&key, "00112233445566778899aabbccddeeff").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(dir.path().join(path), Some(4242), None).unwrap();
        assert_refused(dir.path(), "owned by uid 4242");
    }
}

#[test]
fn an_explicit_key_file_may_be_a_symlink_to_a_trusted_file() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("secret.key");
    std::fs::write(&real, "00112233445566778899aabbccddeeff").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("mounted.key")).unwrap();
    let r = run(dir.path(), MARKER, &["--audit-key-file", "mounted.key"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // What it points to must not be writable by others...
    std::fs::remove_file(dir.path().join("ran")).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o620)).unwrap();
    let r = run(dir.path(), MARKER, &["--audit-key-file", "mounted.key"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!dir.path().join("ran").exists());
    // ... nor owned by someone else than the user or root.
    if is_root() {
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&real, Some(4242), None).unwrap();
        let r = run(dir.path(), MARKER, &["--audit-key-file", "mounted.key"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("owned by uid 4242"), "{}", r.stderr);
        assert!(!dir.path().join("ran").exists());
    }
}

/// A node that looks for the key in its own environment and in `/proc/<pid>/environ` of
/// every ancestor, writing what it finds (or `none`) to `found`.
const KEY_HUNTER: &str = r#"version: "1.0"
name: hunt
nodes:
  - id: hunt
    run: |
      found=none
      env | grep -q 5ec7e7 && found=own-env
      pid=$PPID
      while [ "$pid" -gt 1 ]; do
        if tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | grep -q 5ec7e7; then found="environ of $pid"; fi
        pid=$(awk '{print $4}' /proc/$pid/stat)
      done
      echo "$found" > found
"#;

#[test]
fn no_node_finds_the_audit_key_in_any_environment() {
    let key = "5ec7e75ec7e75ec7e75ec7e75ec7e75e";
    for extra in [&[][..], &["--audit-key-file", "k.key"][..]] {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("k.key");
        std::fs::write(&key_file, "00112233445566778899aabbccddeeff").unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = command(dir.path(), KEY_HUNTER, extra)
            .env("SECFLOW_AUDIT_KEY", key)
            .output()
            .unwrap();
        let r = finish(dir.path(), out);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let found = std::fs::read_to_string(dir.path().join("found")).unwrap();
        assert_eq!(found.trim(), "none", "the key was readable by the node");
    }
    // With the default key file, the environment holds nothing either.
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), KEY_HUNTER, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(dir.path().join("state/audit.key").exists());
}

/// Attack: a node runs `env` to learn secflow's collector credentials. The OTLP headers
/// variables (API keys) were inherited with `env_clear: false` and landed in stdout.log and
/// on the console's failure tail. No node inherits them now.
#[test]
fn no_node_inherits_the_exporters_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = "version: \"1.0\"\nname: env\nnodes:\n  - id: a\n    run: \"env; exit 3\"\n";
    let out = command(dir.path(), recipe, &[])
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer hdr-s3cret-1",
        )
        .env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-key=hdr-s3cret-2")
        .env("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-key=hdr-s3cret-3")
        .env("OTEL_SERVICE_NAME", "kept-as-is")
        .output()
        .unwrap();
    let r = finish(dir.path(), out);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let logged = std::fs::read_to_string(r.run_dir.join("nodes/a/1/stdout.log")).unwrap();
    assert!(logged.contains("OTEL_SERVICE_NAME=kept-as-is"), "{logged}");
    let everything = format!("{logged}{}{}", r.stdout, r.stderr);
    assert!(!everything.contains("hdr-s3cret"), "{everything}");
    assert!(!everything.contains("_HEADERS="), "{everything}");
}

/// SPEC §10: record files are created under the run directory's descriptor, so a
/// `runs/<id>` swapped for a symlink mid-run is never written through.
#[test]
fn a_run_dir_swapped_for_a_symlink_mid_run_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("run.json"), "precious").unwrap();
    std::fs::set_permissions(
        victim.join("run.json"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let recipe = "version: \"1.0\"\nname: swap\nnodes:\n  - id: a\n    run: \"echo up; sleep 1\"\n  - id: b\n    depends_on: [a]\n    run: \"echo hi; touch ran_b\"\n";
    let child = command(dir.path(), recipe, &["--run-id", "swapped"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir = dir.path().join("state/runs/swapped");
    // Node `a` has started (its attempt directory exists once it printed): under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !run_dir.join("nodes/a/1").is_dir() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(run_dir.join("nodes/a/1").is_dir(), "node a never started");
    let moved = dir.path().join("state/runs/swapped.moved");
    std::fs::rename(&run_dir, &moved).unwrap();
    std::os::unix::fs::symlink(&victim, &run_dir).unwrap();
    let r = finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(dir.path().join("ran_b").exists());
    assert_eq!(
        std::fs::read_to_string(victim.join("run.json")).unwrap(),
        "precious"
    );
    let in_victim: Vec<_> = std::fs::read_dir(&victim)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(in_victim, ["run.json"], "written through the symlink");
    // Everything went to the directory that was created for the run.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(moved.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["status"], "succeeded");
    assert_eq!(
        std::fs::read_to_string(moved.join("nodes/b/1/stdout.log")).unwrap(),
        "hi\n"
    );
    assert!(moved.join("metrics.json").is_file());
}
