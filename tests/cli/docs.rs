//! The docs cannot rot: every fenced ```console block of README.md and docs/*.md is run, and
//! its output checked. The format (also at the top of docs/testing.md):
//!
//! - `$ CMD` runs `CMD` with bash (stderr joined to stdout) in a temporary directory holding
//!   copies of `workflows/`, `fixtures/` and `deploy/`, with the built `secflow` first on `PATH`, no
//!   `SECFLOW_*`/`OTEL_*` variables, and the state in `./.secflow` of that directory. The
//!   blocks of one file share the directory, in order, so a later block sees earlier runs.
//! - Exit code 0 is expected, unless the line has a comment `# exit N` (text may follow).
//! - Every other non-empty line must appear in that command's output, in order, each as a
//!   substring of one output line; `...` inside a line matches anything within the line (a
//!   run id, a time), and a line that is only `...` stands for lines skipped.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{BIN, hermetic, repo_root};

/// One `$` command of a block and what its output must show.
#[derive(Debug)]
struct Step {
    /// `FILE:LINE` of the `$` line.
    at: String,
    command: String,
    exit: i32,
    expect: Vec<String>,
}

/// The ```console blocks of `text` as steps, in order.
fn steps(file: &str, text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut in_console = false;
    let mut in_other = false;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        if fence && !in_console && !in_other {
            in_console = line.trim() == "```console";
            in_other = !in_console;
            continue;
        }
        if fence {
            (in_console, in_other) = (false, false);
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            let (command, exit) = split_exit(command);
            steps.push(Step {
                at: format!("{file}:{}", i + 1),
                command,
                exit,
                expect: Vec::new(),
            });
        } else if !line.trim().is_empty() && line.trim() != "..." {
            let step = steps
                .last_mut()
                .unwrap_or_else(|| panic!("{file}:{}: output before any `$ ` line", i + 1));
            step.expect.push(line.trim_end().to_string());
        }
    }
    steps
}

/// `CMD  # exit N: why` → (`CMD`, N); without such a comment the exit code is 0.
fn split_exit(line: &str) -> (String, i32) {
    if let Some(at) = line.find("# exit ") {
        let code: String = line[at + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(code) = code.parse() {
            return (line[..at].trim_end().to_string(), code);
        }
    }
    (line.trim_end().to_string(), 0)
}

/// Whether `line` holds the pieces of `want` split at `...`, in order.
fn line_matches(line: &str, want: &str) -> bool {
    let mut rest = line;
    for piece in want.split("...") {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The expected lines missing from `output` (each matched after the previous one).
fn missing(output: &str, expect: &[String]) -> Option<String> {
    let mut lines = output.lines();
    for want in expect {
        if !lines.any(|line| line_matches(line, want)) {
            return Some(want.clone());
        }
    }
    None
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs one step in `dir`; the combined output, or a description of what went wrong.
fn run_step(dir: &Path, step: &Step) -> Result<String, String> {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = hermetic(&mut Command::new("bash"))
        .args(["-c", &format!("exec 2>&1\n{}", step.command)])
        .current_dir(dir)
        .env("PATH", path)
        .env("COLUMNS", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start bash: {e}"))?;
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("still running after 120 s (killed)".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    if status.code() != Some(step.exit) {
        return Err(format!(
            "exit {:?}, expected {}; output:\n{output}",
            status.code(),
            step.exit
        ));
    }
    if let Some(line) = missing(&output, &step.expect) {
        return Err(format!(
            "output lacks (in order) `{line}`; output:\n{output}"
        ));
    }
    Ok(output)
}

/// README.md and docs/*.md.
fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

#[test]
fn every_console_block_of_the_docs_runs_as_shown() {
    let root = repo_root();
    let mut problems = Vec::new();
    let mut ran = 0;
    for doc in documents() {
        let name = doc.strip_prefix(&root).unwrap().display().to_string();
        let steps = steps(&name, &std::fs::read_to_string(&doc).unwrap());
        if steps.is_empty() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&root.join("workflows"), &dir.path().join("workflows"));
        copy_dir(&root.join("fixtures"), &dir.path().join("fixtures"));
        copy_dir(&root.join("deploy"), &dir.path().join("deploy"));
        for step in &steps {
            ran += 1;
            if let Err(problem) = run_step(dir.path(), step) {
                problems.push(format!("{}: `{}`: {problem}", step.at, step.command));
            }
        }
    }
    assert!(ran >= 3, "only {ran} documented commands found");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn the_block_format_is_read_as_documented() {
    let text = "intro\n```console\n$ a --x  # exit 3: why\nfirst\n...\nlast ... line\n\n$ b\n```\n```sh\n$ not run\n```\n";
    let steps = steps("T.md", text);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0].command, "a --x");
    assert_eq!(steps[0].exit, 3);
    assert_eq!(steps[0].expect, ["first", "last ... line"]);
    assert_eq!(steps[0].at, "T.md:3");
    assert_eq!((steps[1].command.as_str(), steps[1].exit), ("b", 0));
    let out = "zero\nfirst one\nskipped\nthe last long line\n";
    assert_eq!(missing(out, &steps[0].expect), None);
    // Order matters, and `...` inside a line keeps the pieces' order.
    let reversed = ["last ... line".to_string(), "first".to_string()];
    assert_eq!(missing(out, &reversed), Some("first".into()));
    assert!(!line_matches("line last", "last ... line"));
}

/// The property names of `schema`'s object at `pointer` (`""` for the top level).
fn properties(schema: &serde_json::Value, pointer: &str) -> Vec<String> {
    schema
        .pointer(pointer)
        .and_then(|o| o["properties"].as_object())
        .unwrap_or_else(|| panic!("no properties at `{pointer}`"))
        .keys()
        .cloned()
        .collect()
}

#[test]
fn every_record_field_is_named_in_records_md() {
    let doc = std::fs::read_to_string(repo_root().join("docs/records.md")).unwrap();
    let mut missing = Vec::new();
    for (kind, pointers) in [
        (
            "run",
            &[
                "",
                "/$defs/NodeRecord",
                "/$defs/AttemptRecord",
                "/$defs/WorkflowRef",
                "/$defs/AuditSummary",
            ][..],
        ),
        ("log", &[""][..]),
        ("span", &[""][..]),
        ("audit", &[""][..]),
        ("metrics", &[""][..]),
    ] {
        let out = crate::support::secflow()
            .args(["schema", "--record", kind])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "schema --record {kind}");
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for pointer in pointers {
            for field in properties(&schema, pointer) {
                if !doc.contains(&format!("`{field}`")) {
                    missing.push(format!("{kind}{pointer}: `{field}`"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/records.md (## Fields) does not name: {}",
        missing.join(", ")
    );
}
