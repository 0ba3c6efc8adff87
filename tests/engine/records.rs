//! SPEC §10 "Records fail closed", on a real full filesystem (a 1 MiB tmpfs): no node runs
//! when the start records cannot be written; a write error mid-run stops the run (exit 4,
//! `reason: records incomplete`), and the chain it cut verifies as unfinished (exit 3), never
//! as tampered; no temporary file is left behind and the failure is said once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{BIN, command, finish, run};

/// A tmpfs of `size` mounted as the state directory `dir/state`, unmounted when dropped.
struct Tmpfs {
    mount: PathBuf,
}

impl Tmpfs {
    /// `None` (with the reason printed) when it cannot be mounted outside CI; under CI a
    /// test that cannot mount fails.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let mount = dir.join("state");
        std::fs::create_dir(&mount).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&mount)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { mount }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var_os("CI").is_none(),
                    "cannot mount a tmpfs (CI runs as root): {why}"
                );
                eprintln!("skipped: cannot mount a tmpfs (needs root): {why}");
                None
            }
        }
    }

    /// Fills the filesystem with one file until it is full.
    fn fill(&self) {
        let mut f = std::fs::File::create(self.mount.join("filler")).unwrap();
        let block = vec![b'x'; 4096];
        while f.write_all(&block).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Files whose name says they are temporary, anywhere under `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
            {
                found.push(p);
            }
        }
    }
    found
}

const TRIVIAL: &str = "version: \"1.0\"\nname: first\nnodes:\n  - id: a\n    run: \"true\"\n";

/// The state directory (the tmpfs), with its key and `runs/`, made by a first run while
/// there is room.
fn prepared_state(dir: &Path, fs: &Tmpfs) -> PathBuf {
    let r = run(dir, TRIVIAL, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(fs.mount.join("audit.key").is_file());
    fs.mount.clone()
}

fn verify(run_dir: &Path, state: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["audit", "verify", "--state-dir"])
        .arg(state)
        .arg(run_dir)
        .env_remove("SECFLOW_AUDIT_KEY")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn a_full_disk_before_the_run_starts_no_node_and_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(dir.path(), "1m") else {
        return;
    };
    let state = prepared_state(dir.path(), &fs);
    fs.fill();
    let out = command(
        dir.path(),
        "version: \"1.0\"\nname: t\nnodes:\n  - id: mark\n    run: \"touch ran\"\n",
        &[],
    )
    .output()
    .unwrap();
    let r = finish(dir.path(), out);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        !dir.path().join("ran").exists(),
        "a node ran without its records"
    );
    assert_eq!(
        r.stderr.matches("error: records incomplete").count(),
        1,
        "said once: {}",
        r.stderr
    );
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);
    assert!(r.stderr.contains("no node was run"), "{}", r.stderr);
    assert!(
        r.stderr.matches("No space left on device").count() <= 1,
        "{}",
        r.stderr
    );
    assert_eq!(leftovers(&state), Vec::<PathBuf>::new());
}

/// A node that fills the disk, then writes more output (which cannot be captured) and
/// waits; on SIGTERM it frees the space again (a transient ENOSPC) and leaves.
const FILLER: &str = r#"version: "1.0"
name: fill
nodes:
  - id: filler
    run: |
      echo $$ > "$FS/../filler.pid"
      trap 'rm -f "$FS/filler"; exit 0' TERM
      head -c 4000000 /dev/zero > "$FS/filler" 2>/dev/null
      for i in 1 2 3 4 5 6 7 8 9 10; do head -c 100000 /dev/zero; sleep 0.2; done
      sleep 30 & wait
  - id: after
    depends_on: [filler]
    run: "touch ran"
"#;

/// Removes `state/filler` once the filler's shell (its pid in `state/../filler.pid`) is gone,
/// or when `done`.
fn free_when_the_filler_ended(state: &Path, done: &std::sync::atomic::AtomicBool) {
    let pid_file = state.with_file_name("filler.pid");
    while !done.load(std::sync::atomic::Ordering::Acquire) {
        let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
        let pid = pid.trim();
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(state.join("filler"));
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_write_error_mid_run_stops_it_with_exit_4_and_an_unfinished_chain() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(dir.path(), "1m") else {
        return;
    };
    let state = prepared_state(dir.path(), &fs);
    let started = Instant::now();
    let child = command(dir.path(), FILLER, &[])
        .env("FS", &fs.mount)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The filler's TERM trap frees the space before the run's final write. On a loaded
    // machine that trap was seen not to run (1 run in 12 under CPU stress: the file stayed
    // and the final run.json write failed, which is fail-closed, not what this test pins),
    // so the harness frees it too, once the shell has ended.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let backstop = {
        let (done, state) = (std::sync::Arc::clone(&done), state.clone());
        std::thread::spawn(move || free_when_the_filler_ended(&state, &done))
    };
    let out = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Release);
    backstop.join().unwrap();
    let took = started.elapsed();
    let mut r = finish(dir.path(), out);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        took < Duration::from_secs(20),
        "the run was not stopped: {took:?}"
    );
    assert!(!dir.path().join("ran").exists(), "scheduling went on");
    assert_eq!(
        r.stderr.matches("error: records incomplete").count(),
        1,
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("warning:"), "{}", r.stderr);
    if r.record.is_null() {
        let runs = state.join("runs");
        let newest = std::fs::read_dir(&runs)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .max()
            .unwrap();
        r.run_dir = newest;
    }
    let written = r.written();
    assert_eq!(written["status"], "failed", "{written}");
    assert_eq!(written["reason"], "records incomplete", "{written}");
    assert_eq!(written["exit_code"], 4);
    let (code, text) = verify(&r.run_dir, &state);
    assert_eq!(code, 3, "a cut chain is unfinished, not tampered: {text}");
    // The head is the last durable event, as run.json's signed cut says.
    assert!(written["audit"]["cut"].is_string(), "{written}");
    let head = Command::new(BIN)
        .args(["audit", "head"])
        .arg(&r.run_dir)
        .output()
        .unwrap();
    let head: serde_json::Value = serde_json::from_slice(&head.stdout).unwrap();
    assert_eq!(head["seq"], written["audit"]["events"]);
    assert_eq!(head["last_hash"], written["audit"]["last_hash"]);
    assert_eq!(head["finished"], false);
    assert_eq!(leftovers(&state), Vec::<PathBuf>::new());
    // Run again on the freed disk: the records are whole again.
    let again = run(dir.path(), TRIVIAL, &[]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}
