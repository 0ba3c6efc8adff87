//! SPEC §10, the values users and upstream tools hand secflow: templates never execute data,
//! secrets never leave the environment, caches and history are immutable, resume is correct.

use std::path::Path;

use crate::support::{BIN, command, run};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

/// Issue 19 finding 1: `$(id>PWNED)` inside the user's double quotes was unquoted again.
#[test]
fn a_hostile_var_in_any_quoting_is_data_not_code() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: inject
vars: { target: "x" }
nodes:
  - { id: dq, run: "echo \"scanning {{ vars.target }}\" > {{ outputs.dq }}", outputs: [dq] }
  - { id: bare, run: "echo scanning {{ vars.target }} > {{ outputs.bare }}", outputs: [bare] }
  - { id: glued, run: "echo \"[\"{{ vars.target }}']' > {{ outputs.glued }}", outputs: [glued] }
"#;
    for value in [
        "$(id>PWNED)",
        "`id>PWNED`",
        "x'; id>PWNED; '",
        "x\"; id>PWNED; \"",
        "*",
    ] {
        let r = run(dir.path(), recipe, &["--var", &format!("target={value}")]);
        assert_eq!(r.code, 0, "{value}: {}", r.stderr);
        assert!(!dir.path().join("PWNED").exists(), "{value} executed");
        assert_eq!(r.dataset("dq"), format!("scanning {value}\n"));
        assert_eq!(r.dataset("bare"), format!("scanning {value}\n"));
        assert_eq!(r.dataset("glued"), format!("[{value}]\n"));
    }
    // In single quotes the value cannot be kept one word: refused before anything runs.
    let sq = "version: \"1.0\"\nname: inject\nvars: { target: x }\nnodes:\n  - { id: sq, run: \"echo 'scanning {{ vars.target }}' > PWNED\" }\n";
    let r = run(dir.path(), sq, &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("error[template-in-quotes]"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("PWNED").exists());
}

const SECRET: &str = "s3cr3t-Value-42";

/// Issue 19 finding 2: `--dry-run` printed a templated secret, `sh -c`'s argv held it, and
/// run.json's reasons held it in clear.
#[test]
fn a_secret_is_never_in_argv_dry_run_or_records() {
    let dir = tmp();
    let recipe = r#"
version: "1.0"
name: secret
secrets: [SECFLOW_TEST_TOK]
nodes:
  - id: uses
    run: "echo \"auth {{ env.SECFLOW_TEST_TOK }}\" > /dev/null; echo up > started; while [ ! -f go ]; do sleep 0.05; done"
  - id: checks
    run: "test {{ env.SECFLOW_TEST_TOK }} = \"$SECFLOW_TEST_TOK\" && test -n \"$SECFLOW_TEST_TOK\""
"#;
    std::fs::write(dir.path().join("recipe.yaml"), recipe).unwrap();
    for format in ["json", "human"] {
        let out = std::process::Command::new(BIN)
            .current_dir(dir.path())
            .args(["run", "recipe.yaml", "--dry-run", "--format", format])
            .env("SECFLOW_TEST_TOK", SECRET)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            !text.contains(SECRET),
            "--dry-run --format {format}:\n{text}"
        );
        assert!(text.contains("SECFLOW_TEST_TOK"), "{text}");
    }
    let child = command(dir.path(), recipe, &[])
        .env("SECFLOW_TEST_TOK", SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(crate::support::wait_for_file(
        &dir.path().join("started"),
        20
    ));
    let mut cmdlines = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path().join("cmdline")) {
            cmdlines += 1;
            assert!(
                !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
                "/proc/{}/cmdline holds the secret: {}",
                entry.file_name().to_string_lossy(),
                String::from_utf8_lossy(&bytes)
            );
        }
    }
    assert!(cmdlines > 2);
    std::fs::write(dir.path().join("go"), "").unwrap();
    let r = crate::support::finish(dir.path(), child.wait_with_output().unwrap());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.status("checks"), "succeeded", "the tool gets the secret");
    assert!(!r.stderr.contains(SECRET));
    assert_eq!(
        files_containing(&dir.path().join("state"), SECRET.as_bytes()),
        Vec::<String>::new()
    );

    // A failure message quoting the value (a program that does not exist) is masked too.
    let dir = tmp();
    let ghost = "version: \"1.0\"\nname: ghost\nsecrets: [SECFLOW_TEST_TOK]\nvars: { p: x }\nnodes:\n  - { id: g, command: [\"/nonexistent/{{ vars.p }}\"] }\n";
    let out = command(dir.path(), ghost, &["--var", &format!("p={SECRET}")])
        .env("SECFLOW_TEST_TOK", SECRET)
        .output()
        .unwrap();
    let r = crate::support::finish(dir.path(), out);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let written = std::fs::read_to_string(r.run_dir.join("run.json")).unwrap();
    assert!(!written.contains(SECRET), "{written}");
    assert!(written.contains("[REDACTED]"), "{written}");
}

#[test]
fn a_secret_in_argv_or_too_short_is_refused() {
    let dir = tmp();
    let argv = "version: \"1.0\"\nname: s\nsecrets: [SECFLOW_TEST_TOK]\nnodes:\n  - { id: c, command: [\"/x/{{ env.SECFLOW_TEST_TOK }}\"] }\n";
    let out = command(dir.path(), argv, &[])
        .env("SECFLOW_TEST_TOK", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[secret-in-argv]"));
    let short = "version: \"1.0\"\nname: s\nsecrets: [SECFLOW_TEST_TOK]\nnodes:\n  - { id: c, run: \"touch ran\" }\n";
    let out = command(dir.path(), short, &[])
        .env("SECFLOW_TEST_TOK", "abc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 4 bytes"));
    assert!(!dir.path().join("ran").exists());
}

fn human_run(dir: &Path, recipe: &str, args: &[&str]) -> std::process::Output {
    std::fs::write(dir.join("recipe.yaml"), recipe).unwrap();
    std::process::Command::new(BIN)
        .current_dir(dir)
        .args([
            "run",
            "recipe.yaml",
            "--state-dir",
            "state",
            "--progress",
            "never",
        ])
        .args(args)
        .env_remove("SECFLOW_HOME")
        .output()
        .unwrap()
}

/// Issue 19 finding 5: mistakes that passed silently.
#[test]
fn silent_mistakes_are_named() {
    let dir = tmp();
    let recipe = "version: \"1.0\"\nname: m\nvars: { version: \"1\", region: eu }\nenv: { REGION: \"r-{{ vars.region }}\" }\nnodes:\n  - { id: a, run: \"echo \\\"$REGION\\\" > {{ outputs.r }}\", outputs: [r] }\n";
    // A --var typo.
    let out = human_run(dir.path(), recipe, &["--var", "verion=2"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error[unknown-var]") && err.contains("did you mean `version`?"),
        "{err}"
    );
    // Templates in env values are rendered, --var included.
    let r = run(dir.path(), recipe, &["--var", "region=us"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.dataset("r"), "r-us\n");
    // --timeout 0 is refused like `timeout: 0`; --concurrency 0 names the range the recipe names.
    let out = human_run(dir.path(), recipe, &["--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("greater than zero"));
    let out = human_run(dir.path(), recipe, &["--concurrency", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("from 1 to 4294967295"));
    let big = recipe.replace("name: m\n", "name: m\nconcurrency: 4294967296\n");
    let out = human_run(dir.path(), &big, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("from 1 to 4294967295"));
}

#[test]
fn console_messages_say_things_once_and_plainly() {
    let dir = tmp();
    let recipe = "version: \"1.0\"\nname: m\nnodes:\n  - { id: ghost, command: [/nonexistent/x], continue_on_error: true, outputs: [o] }\n  - { id: b, run: \"cat {{ inputs.o }}\", inputs: [o] }\n  - { id: s, run: \"sleep 5\" }\n  - { id: t, run: \"true\", depends_on: [s] }\n";
    let out = human_run(dir.path(), recipe, &["--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("its dependants get empty dataset `o`"),
        "continue_on_error's empty dataset is said:\n{err}"
    );
    assert!(!err.contains("cancelled: cancelled"), "{err}");
    assert!(
        err.contains("t: cancelled: the run timed out after 1s"),
        "{err}"
    );
    assert!(!err.contains(", )"), "dangling comma:\n{err}");
    let logs = std::fs::read_dir(dir.path().join("state/runs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path().join("logs.jsonl")).unwrap_or_default())
        .collect::<String>();
    assert!(logs.contains("its dependants get empty dataset"), "{logs}");
}

#[test]
fn analyze_output_takes_its_format_from_the_extension() {
    let dir = tmp();
    let r = run(
        dir.path(),
        "version: \"1.0\"\nname: a\nnodes:\n  - { id: a, run: \"true\" }\n",
        &[],
    );
    assert_eq!(r.code, 0);
    for (file, starts) in [("r.html", "<!"), ("r.json", "{"), ("r.md", "#")] {
        let out = std::process::Command::new(BIN)
            .current_dir(dir.path())
            .args([
                "performance-analysis",
                "--state-dir",
                "state",
                "last",
                "--output",
                file,
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            text.trim_start().starts_with(starts),
            "{file}: {}",
            &text[..text.len().min(200)]
        );
    }
}

/// SPEC §10: a value over the kernel's 128 KiB per string is a clear error naming the
/// template, not an `E2BIG` at spawn.
#[test]
fn an_oversized_value_names_its_template() {
    let dir = tmp();
    let big = "x".repeat(200 * 1024);
    let recipe = format!(
        "version: \"1.0\"\nname: big\nvars: {{ big: \"{big}\" }}\nnodes:\n  - {{ id: a, run: \"echo {{{{ vars.big }}}} > /dev/null\" }}\n"
    );
    let r = run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 1, "{}", &r.stderr[..r.stderr.len().min(2000)]);
    let reason = r.node("a")["reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("{{ vars.big }}") && reason.contains("128 KiB"),
        "{reason}"
    );
}

/// Found by the adversarial probe: `sh` was looked up through the node's `PATH`, so a recipe
/// (or the caller's environment) could put bash — or anything — behind the `run` lines whose
/// template contexts were checked for POSIX `sh`. `run` lines go to `/bin/sh` by its path.
#[test]
fn run_lines_go_to_bin_sh_whatever_the_path() {
    let dir = tmp();
    let fake = dir.path().join("bin");
    std::fs::create_dir(&fake).unwrap();
    let impostor = fake.join("sh");
    std::fs::write(&impostor, "#!/bin/sh\ntouch IMPOSTOR_RAN\n").unwrap();
    std::fs::set_permissions(
        &impostor,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let recipe = format!(
        "version: \"1.0\"\nname: p\nnodes:\n  - id: a\n    env: {{ PATH: \"{}:/usr/bin:/bin\" }}\n    run: \"echo ok > real\"\n",
        fake.display()
    );
    let r = run(dir.path(), &recipe, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(dir.path().join("real").is_file());
    assert!(!dir.path().join("IMPOSTOR_RAN").exists());
}

/// Found by the adversarial probe: `--dry-run` printed the workflow's name and the rendered
/// command raw, so a name or a `--var` value could drive the terminal.
#[test]
fn dry_run_escapes_control_characters_of_names_and_values() {
    let dir = tmp();
    let recipe = "version: \"1.0\"\nname: \"esc\\e]0;TITLE\\a\\e[31mRED\"\nvars: { v: x }\nnodes:\n  - { id: a, run: \"echo {{ vars.v }}\" }\n";
    let out = command(
        dir.path(),
        recipe,
        &["--dry-run", "--var", "v=\u{1b}]0;VAR\u{7}"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TITLE") && text.contains("VAR"), "{text}");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
}
