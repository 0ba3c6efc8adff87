//! `secflow runs list|show|prune` on run directories laid out by hand from real
//! `RunRecord`s: finished runs, a corrupt run.json, a `running` run whose process is dead, one
//! whose process is alive, and one from another host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secflow::store::{
    AttemptRecord, Counts, NodeRecord, NodeStatus, RUN_SCHEMA_VERSION, RunRecord, RunStatus,
    WorkflowRef,
};

const OLD_OK: &str = "01JDA00000000000000000000A"; // alpha, succeeded, 10 days ago
const OLD_FAIL: &str = "01JDB00000000000000000000B"; // beta, failed, 5 days ago
const DEAD: &str = "01JDC00000000000000000000C"; // alpha, "running", pid gone, 3 days ago
const ALIVE: &str = "01JDD00000000000000000000D"; // alpha, running (resuming OLD_FAIL), this test's pid, just now
const REMOTE: &str = "01JDE00000000000000000000E"; // beta, running on another host, 1 day ago
const NEW_OK: &str = "01JDF00000000000000000000F"; // alpha, succeeded, 1 hour ago
const CORRUPT: &str = "01JCZ00000000000000000000Z"; // half-written run.json (ULID time: oldest)

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_secflow"));
    cmd.env_remove("SECFLOW_HOME").env("NO_COLOR", "1");
    cmd
}

fn runs(state: &Path, args: &[&str]) -> Output {
    bin()
        .arg("runs")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .output()
        .expect("secflow runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// RFC 3339 UTC with milliseconds, `ago` before now (civil-from-days, H. Hinnant).
fn rfc3339_ago(ago: Duration) -> String {
    let t = SystemTime::now() - ago;
    let d = t.duration_since(UNIX_EPOCH).expect("after epoch");
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

/// A pid that no longer exists: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

fn record(
    id: &str,
    workflow: &str,
    status: RunStatus,
    ago_hours: u64,
    pid: u32,
    host: &str,
) -> RunRecord {
    let finished = status != RunStatus::Running;
    let node_status = match status {
        RunStatus::Failed => NodeStatus::Failed,
        RunStatus::Running => NodeStatus::Running,
        _ => NodeStatus::Succeeded,
    };
    let started_at = rfc3339_ago(Duration::from_secs(ago_hours * 3600));
    let attempt = AttemptRecord {
        attempt: 1,
        status: node_status,
        exit_code: finished.then_some(if status == RunStatus::Failed { 3 } else { 0 }),
        signal: None,
        queued_at: started_at.clone(),
        started_at: Some(started_at.clone()),
        ended_at: finished.then(|| started_at.clone()),
        queue_wait_ms: Some(2),
        duration_ms: finished.then_some(1_500),
        cpu_user_ms: finished.then_some(900),
        cpu_system_ms: finished.then_some(100),
        peak_rss_bytes: finished.then_some(48_234_496),
        retry_delay_ms: None,
        executor_job_id: None,
        error: None,
        read_bytes: None,
        write_bytes: None,
        killed_descendants: None,
    };
    let findings = if status == RunStatus::Succeeded { 7 } else { 0 };
    RunRecord {
        schema_version: RUN_SCHEMA_VERSION,
        run_id: id.into(),
        workflow: WorkflowRef {
            name: workflow.into(),
            recipe_path: format!("workflows/{workflow}.yaml"),
            recipe_sha256: "a".repeat(64),
        },
        status,
        exit_code: match status {
            RunStatus::Running => None,
            RunStatus::Succeeded => Some(0),
            RunStatus::Failed => Some(1),
            RunStatus::Cancelled => Some(130),
        },
        started_at,
        ended_at: None,
        duration_ms: finished.then_some(2_345),
        executor: "local".into(),
        concurrency: 4,
        vars: BTreeMap::new(),
        resumed_from: None,
        trace_id: "b".repeat(32),
        pid,
        host: host.into(),
        nodes: vec![NodeRecord {
            node_id: "scan".into(),
            kind: "exec".into(),
            plugin_name: "exec".into(),
            depends_on: None,
            status: node_status,
            reason: (status == RunStatus::Failed).then(|| "exit code 3".to_string()),
            findings_count: findings,
            outputs: BTreeMap::new(),
            cache_key: None,
            attempts: vec![attempt],
            killed_descendants: None,
            instance: None,
        }],
        counts: Counts {
            succeeded: u64::from(status == RunStatus::Succeeded),
            failed: u64::from(status == RunStatus::Failed),
            ..Counts::default()
        },
        findings_count: findings,
        audit: None,
        telemetry: None,
        reason: None,
        self_usage: None,
    }
}

fn write_run(state: &Path, rec: &RunRecord) -> PathBuf {
    let dir = state.join("runs").join(&rec.run_id);
    std::fs::create_dir_all(dir.join("nodes/scan/1")).expect("mkdir");
    std::fs::write(dir.join("nodes/scan/1/stderr.log"), "x".repeat(4096)).expect("log");
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_vec_pretty(rec).expect("json"),
    )
    .expect("write");
    dir
}

/// The full history described by the constants above.
fn history() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path();
    let host = hostname();
    let me = std::process::id();
    write_run(
        state,
        &record(OLD_OK, "alpha", RunStatus::Succeeded, 240, 1, &host),
    );
    write_run(
        state,
        &record(OLD_FAIL, "beta", RunStatus::Failed, 120, 1, &host),
    );
    write_run(
        state,
        &record(DEAD, "alpha", RunStatus::Running, 72, dead_pid(), &host),
    );
    let mut alive = record(ALIVE, "alpha", RunStatus::Running, 0, me, &host);
    alive.resumed_from = Some(OLD_FAIL.into());
    write_run(state, &alive);
    write_run(
        state,
        &record(
            REMOTE,
            "beta",
            RunStatus::Running,
            24,
            dead_pid(),
            "elsewhere.example",
        ),
    );
    write_run(
        state,
        &record(NEW_OK, "alpha", RunStatus::Succeeded, 1, 1, &host),
    );
    let corrupt = state.join("runs").join(CORRUPT);
    std::fs::create_dir_all(&corrupt).expect("mkdir");
    std::fs::write(
        corrupt.join("run.json"),
        r#"{"schema_version": 1, "run_id": "01JCZ"#,
    )
    .expect("write");
    // Not runs: a stray file and a hidden temp directory.
    std::fs::write(state.join("runs/README"), "not a run").expect("write");
    std::fs::create_dir_all(state.join("runs/.tmp-01JDX")).expect("mkdir");
    tmp
}

fn list_json(state: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["list", "--format", "json"];
    args.extend_from_slice(extra);
    let out = runs(state, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("json list")
}

fn ids(list: &[serde_json::Value]) -> Vec<String> {
    list.iter()
        .map(|e| e["run_id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn list_json_is_newest_first_with_died_and_corrupt_runs() {
    let tmp = history();
    let list = list_json(tmp.path(), &[]);
    assert_eq!(
        ids(&list),
        [ALIVE, NEW_OK, REMOTE, DEAD, OLD_FAIL, OLD_OK, CORRUPT]
    );
    let status: Vec<&str> = list
        .iter()
        .map(|e| e["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        status,
        [
            "running",
            "succeeded",
            "running",
            "died",
            "failed",
            "succeeded",
            "corrupt"
        ]
    );
    let dead = &list[3];
    assert_eq!(dead["recorded_status"], "running");
    let corrupt = &list[6];
    assert!(
        corrupt["error"].as_str().unwrap_or("").contains("EOF"),
        "{corrupt}"
    );
    assert!(corrupt["workflow"].is_null());
    let new = &list[1];
    assert_eq!(new["workflow"], "alpha");
    assert_eq!(new["duration_ms"], 2345);
    assert_eq!(new["nodes_ok"], 1);
    assert_eq!(new["nodes_failed"], 0);
    assert_eq!(new["findings_count"], 7);
    assert_eq!(list[4]["nodes_failed"], 1);
}

#[test]
fn list_filters_by_workflow_and_limit() {
    let tmp = history();
    assert_eq!(
        ids(&list_json(tmp.path(), &["--workflow", "alpha"])),
        [ALIVE, NEW_OK, DEAD, OLD_OK]
    );
    assert_eq!(
        ids(&list_json(tmp.path(), &["--workflow", "alph"])),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&list_json(tmp.path(), &["--limit", "2"])),
        [ALIVE, NEW_OK]
    );
    assert_eq!(
        ids(&list_json(
            tmp.path(),
            &["--workflow", "beta", "--limit", "1"]
        )),
        [REMOTE]
    );
}

#[test]
fn list_human_is_a_table_with_notes() {
    let tmp = history();
    let out = runs(tmp.path(), &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let row = |id: &str| {
        text.lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} missing:\n{text}"))
            .to_string()
    };
    assert!(
        row(NEW_OK).contains("succeeded")
            && row(NEW_OK).contains("2.3 s")
            && row(NEW_OK).contains("1/0 of 1")
    );
    assert!(row(DEAD).contains("died"), "{text}");
    assert!(
        row(ALIVE).contains("running") && row(REMOTE).contains("1d 00h"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{CORRUPT}: corrupt: run.json:")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{DEAD}: died: recorded as running")),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour when piped");
    let first = text.lines().position(|l| l.contains(NEW_OK));
    let last = text.lines().position(|l| l.contains(OLD_OK));
    assert!(first < last, "newest first:\n{text}");
}

#[test]
fn empty_or_missing_history_is_not_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = runs(tmp.path(), &["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("no runs recorded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(list_json(tmp.path(), &[]).len(), 0);
    let out = runs(tmp.path(), &["show", "last"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no runs recorded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn run_argument_resolves_id_prefix_last_and_path() {
    let tmp = history();
    let state = tmp.path();
    let show_id = |arg: &str| -> Option<String> {
        let out = runs(state, &["show", arg, "--format", "json"]);
        if out.status.code() != Some(0) {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["run_id"].as_str().map(str::to_string)
    };
    assert_eq!(show_id(OLD_FAIL).as_deref(), Some(OLD_FAIL));
    assert_eq!(show_id("01JDB").as_deref(), Some(OLD_FAIL));
    assert_eq!(
        show_id("01jdb").as_deref(),
        Some(OLD_FAIL),
        "prefixes are case-insensitive"
    );
    assert_eq!(show_id("last").as_deref(), Some(ALIVE));
    // A folder copied elsewhere, named by a path.
    let copy = state.join("elsewhere/copied-run");
    std::fs::create_dir_all(&copy).expect("mkdir");
    std::fs::copy(
        state.join("runs").join(OLD_OK).join("run.json"),
        copy.join("run.json"),
    )
    .expect("copy");
    assert_eq!(
        show_id(&copy.display().to_string()).as_deref(),
        Some(OLD_OK)
    );

    let out = runs(state, &["show", "01JD"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`01JD` matches 6 runs"), "{err}");
    for id in [OLD_OK, OLD_FAIL, DEAD, ALIVE, REMOTE, NEW_OK] {
        assert!(err.contains(id), "{id} not listed: {err}");
    }
    let out = runs(state, &["show", "01JQ"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no run matches `01JQ`"),
        "{}",
        stderr(&out)
    );
    let out = runs(state, &["show", "./no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn show_json_is_run_json_byte_for_byte() {
    let tmp = history();
    let out = runs(tmp.path(), &["show", OLD_OK, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let file = std::fs::read(tmp.path().join("runs").join(OLD_OK).join("run.json")).expect("read");
    let mut expected = file.clone();
    expected.push(b'\n');
    assert_eq!(out.stdout, expected);
}

#[test]
fn show_human_has_summary_and_node_table() {
    let tmp = history();
    let out = runs(tmp.path(), &["show", OLD_FAIL]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("workflow     beta"), "{text}");
    assert!(text.contains("status       failed (exit 1)"), "{text}");
    assert!(text.contains("duration     2.3 s"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains(" scan "))
        .unwrap_or_else(|| panic!("{text}"));
    for cell in ["failed", "1.5 s", "1.0 s", "46.0 MiB"] {
        assert!(row.contains(cell), "{cell} not in {row}");
    }
    // The failed node's stderr, with its path.
    let log = tmp
        .path()
        .join("runs")
        .join(OLD_FAIL)
        .join("nodes/scan/1/stderr.log");
    assert!(
        text.contains(&format!("scan failed (attempt 1, exit 3, 1.5 s): exit code 3\n  stderr: {} (last line)\n  | xxxx", log.display())),
        "{text}"
    );
    let out = runs(tmp.path(), &["show", DEAD]);
    assert!(
        stdout(&out).contains("died (recorded running; process"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains(&format!("run {DEAD} died: ")),
        "{}",
        stdout(&out)
    );
    let out = runs(tmp.path(), &["show", CORRUPT]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("corrupt"), "{}", stderr(&out));
    let out = runs(tmp.path(), &["show", CORRUPT, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no half record on stdout");
    assert!(stderr(&out).contains("corrupt"), "{}", stderr(&out));
}

#[test]
fn secflow_home_names_the_state_dir() {
    let tmp = history();
    let out = bin()
        .args(["runs", "list", "--format", "json"])
        .env("SECFLOW_HOME", tmp.path())
        .output()
        .expect("run");
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list.len(), 7);
}

fn run_dirs(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("runs"))
        .expect("runs dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[test]
fn prune_keep_never_deletes_a_live_run() {
    let tmp = history();
    let state = tmp.path();
    // A run being created right now: its directory exists, its run.json not yet.
    let starting = "01JDG00000000000000000000G";
    std::fs::create_dir_all(state.join("runs").join(starting)).expect("mkdir");
    let before = run_dirs(state);
    let out = runs(state, &["prune", "--keep", "0", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(run_dirs(state), before, "dry run deletes nothing");
    let text = stdout(&out);
    assert!(
        text.contains(&format!("would delete {OLD_OK} (alpha, succeeded, started")),
        "{text}"
    );
    assert!(text.contains("would delete 4 runs, "), "{text}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("kept {ALIVE}: it may still be running")),
        "{err}"
    );
    assert!(
        err.contains(&format!("kept {REMOTE}: it may still be running")),
        "{err}"
    );
    assert!(
        err.contains(&format!("kept {starting}: it may still be running")),
        "{err}"
    );
    assert!(!text.contains(ALIVE) && !text.contains(REMOTE), "{text}");

    let out = runs(state, &["prune", "--keep", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for id in [OLD_OK, DEAD, CORRUPT] {
        assert!(text.contains(&format!("deleted {id} (")), "{id}: {text}");
    }
    assert!(text.contains("deleted 3 runs, "), "{text}");
    assert!(
        stderr(&out).contains(&format!("kept {OLD_FAIL}: a running run resumes it")),
        "{}",
        stderr(&out)
    );
    assert_eq!(run_dirs(state), [OLD_FAIL, ALIVE, REMOTE, NEW_OK, starting]);
    assert!(
        state.join("runs/README").exists(),
        "only run directories are touched"
    );
}

#[test]
fn prune_older_than_uses_start_time() {
    let tmp = history();
    let state = tmp.path();
    let out = runs(state, &["prune", "--older-than", "4d"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        run_dirs(state),
        [OLD_FAIL, DEAD, ALIVE, REMOTE, NEW_OK],
        "{}",
        stdout(&out)
    );
    // Both rules: deleted only when outside the newest 3 and older than 36 hours.
    let out = runs(state, &["prune", "--keep", "3", "--older-than", "36h"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        run_dirs(state),
        [OLD_FAIL, ALIVE, REMOTE, NEW_OK],
        "{}",
        stdout(&out)
    );
}

#[test]
fn prune_usage_errors_exit_2() {
    let tmp = history();
    let out = runs(tmp.path(), &["prune"]);
    assert_eq!(out.status.code(), Some(2), "a rule is required");
    let out = runs(tmp.path(), &["prune", "--older-than", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--older-than"), "{}", stderr(&out));
    assert_eq!(run_dirs(tmp.path()).len(), 7, "nothing deleted");
}

/// Runs `secflow runs list` with stdout on a pseudo-terminal (util-linux `script`).
fn list_on_a_terminal(state: &Path, no_color: Option<&str>) -> String {
    let cmd = format!(
        "'{}' runs list --state-dir '{}'",
        env!("CARGO_BIN_EXE_secflow"),
        state.display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("NO_COLOR");
    if let Some(v) = no_color {
        script.env("NO_COLOR", v);
    }
    let out = script.output().expect("util-linux script");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let tmp = history();
    let coloured = list_on_a_terminal(tmp.path(), None);
    assert!(coloured.contains(NEW_OK), "{coloured}");
    assert!(
        coloured.contains("\x1b["),
        "a terminal gets colour: {coloured:?}"
    );
    let plain = list_on_a_terminal(tmp.path(), Some("1"));
    assert!(plain.contains(NEW_OK), "{plain}");
    assert!(
        !plain.contains("\x1b["),
        "NO_COLOR turns colour off: {plain:?}"
    );
}

#[test]
fn a_running_run_whose_pid_was_reused_has_died() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A live process that started long after the recorded run: the pid was reused.
    let mut younger = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let rec = record(
        DEAD,
        "alpha",
        RunStatus::Running,
        24,
        younger.id(),
        &hostname(),
    );
    write_run(tmp.path(), &rec);
    let list = list_json(tmp.path(), &[]);
    younger.kill().expect("kill sleep");
    younger.wait().expect("reap sleep");
    assert_eq!(list[0]["status"], "died", "{list:?}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let tmp = history();
    let mut child = bin()
        .args(["runs", "list", "--state-dir"])
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // no reader: the first write fails with EPIPE
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

#[test]
fn prune_refuses_a_symlinked_runs_dir_and_leaves_its_target_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::create_dir_all(victim.join("01JDF00000000000000000000F")).unwrap();
    std::fs::write(victim.join("precious"), "keep me").unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::symlink(&victim, state.join("runs")).unwrap();
    let out = runs(&state, &["prune", "--keep", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("runs is a symlink"),
        "{}",
        stderr(&out)
    );
    assert!(victim.join("01JDF00000000000000000000F").is_dir());
    assert!(victim.join("precious").is_file());
    // A state directory writable by others is refused too; reading it only warns.
    std::fs::remove_file(state.join("runs")).unwrap();
    std::fs::create_dir(state.join("runs")).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = runs(&state, &["prune", "--keep", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod go-w"), "{}", stderr(&out));
    let out = runs(&state, &["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: untrusted state directory"));
}

/// A hostile workflow name and node id (terminal escapes, a fake line) never reach the
/// terminal raw in `runs list` or `runs show`, and a node id with a newline cannot split a
/// table row (issue 24 point 2).
#[test]
fn hostile_names_are_escaped_in_list_and_show() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let hostile = "x\u{1b}[2J\u{1b}]0;PWNED\u{7}\r\nFAKE run succeeded";
    let mut rec = record(OLD_FAIL, hostile, RunStatus::Failed, 1, 1, &hostname());
    rec.nodes[0].node_id = "sc\nan\u{1b}[31m".into();
    rec.nodes[0].reason = Some("bad\u{1b}[2Jreason".into());
    write_run(tmp.path(), &rec);
    for args in [&["list"][..], &["show", OLD_FAIL]] {
        let out = runs(tmp.path(), args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(!text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{7}'));
        assert!(text.contains("x\\u{1b}[2J"), "{text}");
        assert!(
            !text.lines().any(|l| l.starts_with("FAKE")),
            "a name's newline started a line:\n{text}"
        );
        if args[0] == "show" {
            assert!(text.contains("sc\\nan\\u{1b}[31m"), "{text}");
            // Every node-table row is one line: the id's newline did not split it.
            assert!(
                !text
                    .lines()
                    .any(|l| l.trim_start_matches('│').trim().starts_with("an"))
            );
        }
    }
}

/// A 4 MiB and a 50 MiB workflow name render in well under a second: cells are capped (with
/// an ellipsis) before comfy-table lays them out (issue 24 point 6).
#[test]
fn huge_names_render_fast_and_capped() {
    for size in [4usize << 20, 50 << 20] {
        let tmp = tempfile::tempdir().expect("tempdir");
        let name = "n".repeat(size);
        let mut rec = record(NEW_OK, &name, RunStatus::Succeeded, 1, 1, &hostname());
        rec.nodes[0].node_id = "i".repeat(size);
        write_run(tmp.path(), &rec);
        for args in [&["list"][..], &["show", NEW_OK]] {
            let t = std::time::Instant::now();
            let out = runs(tmp.path(), args);
            let took = t.elapsed();
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            assert!(stdout(&out).contains("nnnn…"), "{args:?}");
            // Standalone ~0.5 s (50 MiB, debug build); the bound leaves room for a loaded
            // machine. Before cells were capped, 4 MiB took 4.9 s (release), 50 MiB ~13 min.
            assert!(took < Duration::from_secs(10), "{args:?} {size}: {took:?}");
            assert!(
                stdout(&out)
                    .lines()
                    .all(|l| l.chars().count() < 1000 || args[0] == "show")
            );
        }
    }
}

/// `runs list`, `runs show` and `show --format json` never block on a FIFO run.json; they
/// say what is wrong with it (issue 24 point 7).
#[test]
fn a_fifo_run_json_is_refused_not_waited_on() {
    let tmp = history();
    let dir = tmp.path().join("runs").join(NEW_OK);
    std::fs::remove_file(dir.join("run.json")).expect("rm");
    let st = Command::new("mkfifo")
        .arg(dir.join("run.json"))
        .status()
        .expect("mkfifo");
    assert!(st.success());
    for args in [
        &["list"][..],
        &["list", "--format", "json"],
        &["show", NEW_OK],
        &["show", NEW_OK, "--format", "json"],
    ] {
        let mut child = bin()
            .arg("runs")
            .args(args)
            .arg("--state-dir")
            .arg(tmp.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let t = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if t.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("runs {args:?} blocked on a FIFO run.json");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(all.contains("FIFO"), "{args:?}: {all}");
    }
}

/// An error names its cause once: no "Not a directory (os error 20): Not a directory (os
/// error 20)" (issue 24 point 10).
#[test]
fn an_error_names_its_cause_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("runs"), "not a directory").expect("write");
    let out = runs(tmp.path(), &["list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.matches("os error 20").count(), 1, "{err}");
    assert!(err.contains("runs"), "{err}");
}

/// u64::MAX in every figure of an edited run.json saturates: no overflow panic (this test
/// binary is a debug build, where an overflowing `+` panics) in list, show or analyze
/// (issue 24 point 10).
#[test]
fn u64_max_figures_saturate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut rec = record(NEW_OK, "alpha", RunStatus::Succeeded, 1, 1, &hostname());
    rec.duration_ms = Some(u64::MAX);
    rec.findings_count = u64::MAX;
    rec.counts.succeeded = u64::MAX;
    rec.counts.cached = u64::MAX;
    rec.counts.failed = u64::MAX;
    rec.counts.timed_out = u64::MAX;
    let mut twice = rec.nodes[0].clone();
    twice.node_id = "scan2".into();
    rec.nodes.push(twice);
    for node in &mut rec.nodes {
        node.findings_count = u64::MAX;
        let mut a = node.attempts[0].clone();
        a.duration_ms = Some(u64::MAX);
        a.cpu_user_ms = Some(u64::MAX);
        a.cpu_system_ms = Some(u64::MAX);
        a.queue_wait_ms = Some(u64::MAX);
        a.attempt = 2;
        node.attempts = vec![a.clone(), a];
    }
    write_run(tmp.path(), &rec);
    for args in [&["list"][..], &["show", NEW_OK]] {
        let out = runs(tmp.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    for format in ["table", "json", "markdown"] {
        let out = bin()
            .args(["analyze", NEW_OK, "--format", format, "--state-dir"])
            .arg(tmp.path())
            .output()
            .expect("analyze");
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
    }
}

/// The fast part of the corrupted-records matrix (`bench/hostile_records.sh` is the whole
/// one): hostile variants of one real run, and every read command on each — no hang, no
/// panic, no raw escape sequence, each answering in bounded time (issue 24).
#[test]
fn hostile_records_matrix_fast() {
    let base = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        base.path().join("r.yaml"),
        "version: \"1.0\"\nname: hostile-base\nnodes:\n  - { id: scan, run: \"echo found; echo oops >&2\" }\n  - { id: fail, run: \"echo broken >&2; exit 3\", depends_on: [scan] }\n",
    )
    .expect("recipe");
    let out = bin()
        .current_dir(base.path())
        .args(["run-workflow", "--progress", "never", "r.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let runs_dir = base.path().join(".secflow/runs");
    let id = std::fs::read_dir(&runs_dir)
        .expect("runs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("one run");
    type Edit = Box<dyn Fn(&Path)>;
    let write = |name: &'static str, bytes: &'static [u8]| -> Edit {
        Box::new(move |d: &Path| {
            let _ = std::fs::remove_file(d.join(name));
            std::fs::write(d.join(name), bytes).expect("write");
        })
    };
    let fifo = |name: &'static str| -> Edit {
        Box::new(move |d: &Path| {
            let _ = std::fs::remove_file(d.join(name));
            assert!(
                Command::new("mkfifo")
                    .arg(d.join(name))
                    .status()
                    .expect("mkfifo")
                    .success()
            );
        })
    };
    let edit = |f: fn(&mut serde_json::Value)| -> Edit {
        Box::new(move |d: &Path| {
            let p = d.join("run.json");
            let mut v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
            f(&mut v);
            std::fs::write(&p, v.to_string()).expect("write");
        })
    };
    let variants: Vec<(&str, Edit)> = vec![
        ("intact", Box::new(|_: &Path| {})),
        (
            "run.json torn",
            write("run.json", b"{\"schema_version\": 1, \"run_id\": \"01"),
        ),
        ("run.json empty", write("run.json", b"")),
        ("run.json FIFO", fifo("run.json")),
        (
            "run.json NUL",
            write("run.json", b"{\"run_id\":\"\x00\"}\x00"),
        ),
        ("run.json array", write("run.json", b"[1,2,3]")),
        ("wrong types", edit(|v| v["status"] = 5.into())),
        (
            "hostile name and id",
            edit(|v| {
                v["workflow"]["name"] = "x\u{1b}[2J\u{1b}]0;PWNED\u{7}\r\nFAKE".into();
                v["nodes"][1]["node_id"] = "../../../etc\u{1b}[31m".into();
                v["nodes"][1]["reason"] = "r\u{1b}[2J".into();
            }),
        ),
        (
            "u64::MAX",
            edit(|v| {
                v["duration_ms"] = u64::MAX.into();
                v["nodes"][0]["attempts"][0]["duration_ms"] = u64::MAX.into();
                v["nodes"][0]["attempts"][0]["cpu_user_ms"] = u64::MAX.into();
                v["nodes"][0]["attempts"][0]["cpu_system_ms"] = u64::MAX.into();
            }),
        ),
        ("logs FIFO", fifo("logs.jsonl")),
        (
            "logs garbage",
            write("logs.jsonl", b"\x1b[2J garbage\n{\"message\": 1}\n{\"mess"),
        ),
        ("spans FIFO", fifo("spans.jsonl")),
        ("spans garbage", write("spans.jsonl", b"{not a span\n[]\n")),
        ("audit FIFO", fifo("audit.jsonl")),
        ("audit garbage", write("audit.jsonl", b"garbage\x1b[2J\n")),
        ("metrics FIFO", fifo("metrics.json")),
        ("metrics corrupt", write("metrics.json", b"{\"series\": [")),
        ("stderr.log FIFO", fifo("nodes/fail/1/stderr.log")),
    ];
    let dead = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port()
    );
    let mut cells = 0;
    let mut slowest = (Duration::ZERO, String::new());
    for (name, apply) in &variants {
        let state = tempfile::tempdir().expect("tempdir");
        let dir = state.path().join("runs").join(&id);
        let copied = Command::new("cp")
            .arg("-a")
            .arg(&runs_dir)
            .arg(state.path())
            .status()
            .expect("cp");
        assert!(copied.success());
        apply(&dir);
        let run = dir.to_str().expect("utf-8").to_string();
        let commands: Vec<Vec<&str>> = vec![
            vec!["runs", "list"],
            vec!["runs", "show", &run],
            vec!["logs", &run],
            vec!["metrics", &run],
            vec!["analyze", &run, "--format", "table"],
            vec!["analyze", &run, "--format", "markdown"],
            vec!["audit", "verify", &run],
            vec!["export", &run, "--otlp-endpoint", &dead],
        ];
        for args in commands {
            let mut child = bin()
                .args(&args)
                .env("SECFLOW_HOME", state.path())
                .env("OTEL_EXPORTER_OTLP_TIMEOUT", "300")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn");
            let started = std::time::Instant::now();
            while child.try_wait().expect("wait").is_none() {
                if started.elapsed() > Duration::from_secs(10) {
                    let _ = child.kill();
                    panic!("{name} / {args:?}: hung");
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let took = started.elapsed();
            let out = child.wait_with_output().expect("output");
            let (o, e) = (stdout(&out), stderr(&out));
            let cell = format!("{name} / {args:?}");
            assert_ne!(out.status.code(), Some(101), "{cell}: {e}");
            assert!(!e.contains("panicked"), "{cell}: {e}");
            assert!(
                !o.contains('\u{1b}') && !e.contains('\u{1b}'),
                "{cell}: raw ESC\n{o}\n{e}"
            );
            assert!(took < Duration::from_secs(4), "{cell}: {took:?}");
            if took > slowest.0 {
                slowest = (took, cell);
            }
            cells += 1;
        }
    }
    eprintln!("{cells} cells; slowest {:?}: {}", slowest.0, slowest.1);
}

/// Attack: a same-user tool leaves sparse files of 100 GB in run directories — a run.json,
/// one `logs.jsonl` line without a newline, zeros appended to `audit.jsonl`. Readers sized
/// their buffers from the file or read to the newline: `runs list` aborted on a 100 GB
/// allocation, `logs` and `audit verify` grew until the OOM killer came. Whole files are
/// capped at 1 GiB and lines at 256 MiB, skipped unbuffered past that.
#[test]
fn hostile_sparse_record_files_cost_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let r = crate::support::run(
        dir.path(),
        "version: \"1.0\"\nname: big\nnodes:\n  - id: a\n    run: \"true\"\n",
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let state = r.run_dir.parent().unwrap().parent().unwrap().to_path_buf();
    let sparse = |path: &Path, extra: u64| {
        let f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len + extra).unwrap();
    };
    // A second run whose run.json is 100 GB of zeros.
    let huge = state.join("runs").join("01M99ZZZZZZZZZZZZZZZZZZZZZ");
    std::fs::create_dir(&huge).unwrap();
    sparse(&huge.join("run.json"), 100 << 30);
    // The real run: a 600 MiB last line in logs.jsonl, 600 MiB of zeros after the audit chain.
    sparse(&r.run_dir.join("logs.jsonl"), 600 << 20);
    sparse(&r.run_dir.join("audit.jsonl"), 600 << 20);
    let limited = |args: &[&str]| {
        // 1.5 GiB of address space: the old readers could not stay within it.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -v 1500000; exec \"$@\"")
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_secflow"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1");
        cmd.output().unwrap()
    };
    let state_arg = state.to_str().unwrap();
    let out = limited(&["runs", "list", "--state-dir", state_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("corrupt"), "{}", stdout(&out));
    let out = limited(&["logs", r.run_dir.to_str().unwrap()]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let out = limited(&[
        "audit",
        "verify",
        "--state-dir",
        state_arg,
        r.run_dir.to_str().unwrap(),
    ]);
    // Zeros after the last event: a torn tail, never a crash.
    assert!(
        matches!(out.status.code(), Some(1 | 3)),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}
