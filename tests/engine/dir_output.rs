//! Directory outputs (`outputs: [{ name: site, dir: true }]`, SPEC §9) with real processes
//! and hostile trees: symlinks out of the directory (to `/etc`, to a file of another run),
//! hard links, fifos, device nodes and deep trees. secflow must count, hash and promote them
//! without following a symlink, blocking on a fifo or reading a device.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::{Run, run};

/// A producer that leaves every kind of hostile entry in its directory, and a consumer that
/// lists what it sees. `secret.txt` stands for a file outside the run (another run's data).
fn hostile(value: &str, cache: bool) -> String {
    format!(
        r#"
version: "1.0"
name: dirout
vars: {{ value: "{value}" }}
state: {{ cache_intermediate: {cache} }}
nodes:
  - id: mirror
    run: |
      echo mirror >> executed.log
      d="{{{{ outputs.site }}}}"
      test -d "$d" && test -z "$(ls -A "$d")" || exit 9
      stat -c %a "$d" > mode.txt
      mkdir -p "$d/a/b/c/d/e/f/g/h"
      echo "{{{{ vars.value }}}}" > "$d/index.html"
      echo page > "$d/a/b/c/d/e/f/g/h/page.html"
      ln "$PWD/secret.txt" "$d/hardlink"
      ln -s /etc/passwd "$d/passwd"
      ln -s /etc "$d/etc"
      ln -s "$PWD/secret.txt" "$d/other-run"
      ln -s loop "$d/loop"
      mkfifo "$d/fifo"
      mknod "$d/null" c 1 3 2>/dev/null || true
    outputs: [{{ name: site, dir: true }}]
  - id: list
    run: |
      echo list >> executed.log
      test -d "{{{{ inputs.site }}}}" || exit 7
      cd "{{{{ inputs.site }}}}" && find . -type f | sort > "{{{{ outputs.files }}}}"
    inputs: [site]
    outputs: [files]
"#
    )
}

fn setup(dir: &Path) {
    std::fs::write(dir.join("secret.txt"), "another run's data\n").unwrap();
}

fn executed(dir: &Path) -> Vec<String> {
    let log = dir.join("executed.log");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    text.lines().map(str::to_string).collect()
}

fn records(r: &Run, node: &str, output: &str) -> (String, u64) {
    let o = &r.node(node)["outputs"][output];
    (
        o["path"].as_str().unwrap_or_default().to_string(),
        o["records"].as_u64().unwrap_or(u64::MAX),
    )
}

#[test]
fn a_directory_output_is_promoted_whole_counted_without_following_symlinks_and_read_by_its_consumer()
 {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let r = run(dir.path(), &hostile("v1", false), &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    // The attempt got an empty private directory.
    let mode = std::fs::read_to_string(dir.path().join("mode.txt")).unwrap();
    assert_eq!(mode.trim(), "700");
    // Regular files only: index.html, the deep page and the hard link; never the symlinks'
    // targets (/etc has hundreds of files), the fifo or the device.
    assert_eq!(records(&r, "mirror", "site"), ("datasets/site".into(), 3));
    let site = r.run_dir.join("datasets/site");
    let meta = std::fs::symlink_metadata(&site).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o700);
    // Promoted whole: renamed, so the entries are what the node left (symlinks stay links).
    assert!(
        std::fs::symlink_metadata(site.join("etc"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_link(site.join("passwd")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert!(!r.run_dir.join("nodes/mirror/1/out/site").exists());
    // The consumer's `{{ inputs.site }}` is the directory.
    let files = std::fs::read_to_string(r.run_dir.join("datasets/files.jsonl")).unwrap();
    assert_eq!(
        files.lines().collect::<Vec<_>>(),
        ["./a/b/c/d/e/f/g/h/page.html", "./hardlink", "./index.html"]
    );
    // The file outside the run is untouched (the hard link shares its inode, nothing wrote).
    let secret = dir.path().join("secret.txt");
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "another run's data\n"
    );
    assert_eq!(std::fs::metadata(&secret).unwrap().nlink(), 2);
}

#[test]
fn a_directory_output_always_runs_and_its_consumer_is_cached_by_the_trees_content() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let first = run(dir.path(), &hostile("v1", true), &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(executed(dir.path()), ["mirror", "list"]);
    // Same tree again: the producer runs (never reused), its consumer is a cache hit.
    let second = run(dir.path(), &hostile("v1", true), &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(executed(dir.path()), ["mirror"]);
    assert_eq!(second.status("mirror"), "succeeded");
    assert_eq!(second.status("list"), "cached");
    // One byte changed deep in the tree: the consumer runs again.
    let third = run(dir.path(), &hostile("v2", true), &[]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(executed(dir.path()), ["mirror", "list"]);
    // --resume of a run re-runs the directory's producer too.
    let id = third.record["run_id"].as_str().unwrap();
    let resumed = run(dir.path(), &hostile("v2", true), &["--resume", id]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(executed(dir.path()), ["mirror"]);
    assert_eq!(resumed.status("mirror"), "succeeded");
    assert_eq!(resumed.status("list"), "cached");
    assert_eq!(records(&resumed, "mirror", "site").1, 3);
}

#[test]
fn a_consumer_that_writes_into_its_directory_input_fails_with_input_modified() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: dirout
nodes:
  - id: mirror
    run: 'echo x > "{{ outputs.site }}/index.html"'
    outputs: [{ name: site, dir: true }]
  - id: vandal
    run: 'echo y >> "{{ inputs.site }}/index.html"'
    inputs: [site]
"#;
    let r = run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.status("vandal"), "failed");
    let error = r.node("vandal")["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("input modified"), "{error}");
}

/// A node that puts `what` in place of its outputs.
fn replacing(what: &str) -> String {
    format!(
        r#"
version: "1.0"
name: dirout
nodes:
  - id: swap
    run: |
      {what}
    outputs: [{{ name: site, dir: true }}, report]
"#
    )
}

#[test]
fn a_symlink_fifo_or_deep_tree_in_place_of_an_output_fails_the_node_without_following_it() {
    let cases = [
        (
            r#"rmdir "{{ outputs.site }}" && ln -s /etc "{{ outputs.site }}"; echo r > "{{ outputs.report }}""#,
            "is no longer a directory",
        ),
        (
            r#"echo '<a/>' > "{{ outputs.site }}/x"; ln -s /etc/passwd "{{ outputs.report }}""#,
            "`report` is a symlink, not a regular file",
        ),
        (
            r#"echo '<a/>' > "{{ outputs.site }}/x"; mkfifo "{{ outputs.report }}""#,
            "`report` is a fifo, not a regular file",
        ),
        (
            r#"cd "{{ outputs.site }}" && for i in $(seq 200); do mkdir d && cd d || exit 3; done; echo deep > f; echo r > "{{ outputs.report }}""#,
            "deeper than 128 levels",
        ),
    ];
    for (what, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let r = run(dir.path(), &replacing(what), &[]);
        assert!(started.elapsed().as_secs() < 30, "{what}: blocked");
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert_eq!(r.status("swap"), "failed");
        let error = r.node("swap")["attempts"][0]["error"].as_str().unwrap();
        assert!(error.contains(message), "{what}: {error}");
        // Nothing promoted; the failed attempt's outputs are kept for debugging.
        assert!(!r.run_dir.join("datasets/site").exists());
        assert!(!r.run_dir.join("datasets/report.jsonl").exists());
        assert!(
            std::fs::symlink_metadata(r.run_dir.join("nodes/swap/1/out/site")).is_ok(),
            "{what}"
        );
    }
}

#[test]
fn each_attempt_gets_a_fresh_directory_and_a_failed_producer_leaves_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let recipe = r#"
version: "1.0"
name: dirout
nodes:
  - id: flaky
    run: |
      d="{{ outputs.site }}"
      test -z "$(ls -A "$d")" || exit 8
      echo a > "$d/a.html"
      test "$SECFLOW_ATTEMPT" = 2
    outputs: [{ name: site, dir: true }]
    retry: { max_attempts: 2, base_delay: 0 }
  - id: broken
    run: 'echo b > "{{ outputs.other }}/b"; exit 5'
    outputs: [{ name: other, dir: true }]
    continue_on_error: true
  - id: many
    run: 'test -d "{{ inputs.other }}" && test -z "$(ls -A "{{ inputs.other }}")"'
    inputs: [site, other]
    when: records(inputs.site) == 1 && records(inputs.other) == 0
"#;
    let r = run(dir.path(), recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("flaky"), "succeeded");
    assert_eq!(r.node("flaky")["attempts"].as_array().unwrap().len(), 2);
    // Attempt 1's directory is kept where it was, for debugging.
    assert!(r.run_dir.join("nodes/flaky/1/out/site/a.html").is_file());
    assert_eq!(records(&r, "broken", "other"), ("datasets/other".into(), 0));
    assert!(r.run_dir.join("nodes/broken/1/out/other/b").is_file());
    assert_eq!(r.status("many"), "succeeded");
}

#[test]
fn analysis_audit_and_prune_of_a_hostile_directory_never_reach_through_its_links() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    // A directory outside the run the node links to: pruning must not empty it.
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "keep").unwrap();
    let recipe = hostile("v1", false).replace(
        "      ln -s loop \"$d/loop\"\n",
        "      ln -s loop \"$d/loop\"\n      ln -s \"$PWD/outside\" \"$d/outside\"\n",
    );
    let r = run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = r.record["run_id"].as_str().unwrap().to_string();
    let state = dir.path().join("state");
    let secflow = |args: &[&str]| {
        let out = crate::support::secflow()
            .current_dir(dir.path())
            .args(args)
            .arg("--state-dir")
            .arg(&state)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, text) = secflow(&["performance-analysis", &id]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = secflow(&["audit", "verify", &id]);
    assert_eq!(code, 0, "{text}");
    let (code, text) = secflow(&["runs", "show", &id]);
    assert_eq!(code, 0, "{text}");
    // A second run so that `--keep 1` deletes the first (with its links) but nothing else.
    assert_eq!(run(dir.path(), &recipe, &[]).code, 0);
    let (code, text) = secflow(&["runs", "prune", "--keep", "1"]);
    assert_eq!(code, 0, "{text}");
    assert!(!r.run_dir.exists(), "{text}");
    assert_eq!(
        std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
        "keep"
    );
    assert!(dir.path().join("secret.txt").is_file());
    assert!(Path::new("/etc/passwd").is_file());
}
