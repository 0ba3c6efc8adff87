//! `secflow audit verify [RUN|FILE]`: verify a run's audit chain and say so in one line
//! (or one JSON object). Exit codes (SPEC §4): 0 intact and finished, 1 tampered, 2 usage
//! error / unreadable / wrong key, 3 an intact prefix of a run that never finished.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::bail;

use super::{AuditCommand, AuditHeadArgs, AuditVerifyArgs, Format};
use crate::audit::verify::{self, RunJsonAudit};
use crate::audit::{AuditKey, KEY_ENV, Outcome, Report};
use crate::escape::escape;
use crate::exit;
use crate::sinks::audit::AUDIT_FILE_NAME;

/// Version of the `--format json` output.
const OUTPUT_SCHEMA_VERSION: u32 = 1;

pub fn run(command: &AuditCommand) -> anyhow::Result<i32> {
    match command {
        AuditCommand::Verify(args) => verify_command(args),
        AuditCommand::Head(args) => head_command(args),
    }
}

/// `audit head [RUN|FILE]`: the chain's last event as one JSON line.
fn head_command(args: &AuditHeadArgs) -> anyhow::Result<i32> {
    let target = args.run.as_deref().unwrap_or("last");
    let located = locate(target, &args.state.state_dir)?;
    match crate::audit::witness::head_of(&located.audit).map_err(anyhow::Error::msg)? {
        Some(head) => {
            println!("{}", serde_json::to_string(&head)?);
            Ok(exit::SUCCESS)
        }
        None => {
            eprintln!("error: {} holds no audit event", located.audit.display());
            Ok(exit::INVALID)
        }
    }
}

fn verify_command(args: &AuditVerifyArgs) -> anyhow::Result<i32> {
    let target = args.run.as_deref().unwrap_or("last");
    let located = locate(target, &args.state.state_dir)?;
    let run_json = located
        .run_json
        .as_deref()
        .map(verify::read_run_json)
        .transpose()?;
    let env_key = crate::audit::key::env_key();
    // A run named by its path was written with the key of the state directory that holds
    // it, whatever the current (or default) state directory is: that key is tried first.
    let (primary, fallback): (&Path, Vec<PathBuf>) = match &located.state_dir_guess {
        Some(container) if container.join(crate::audit::key::KEY_FILE_NAME).is_file() => {
            (container.as_path(), vec![args.state.state_dir.clone()])
        }
        _ => (
            args.state.state_dir.as_path(),
            located.state_dir_guess.iter().cloned().collect(),
        ),
    };
    if primary != args.state.state_dir.as_path()
        && env_key.is_none()
        && args.audit_key_file.is_none()
    {
        // Its key is the one used: a foreign or symlinked key there is worth a warning.
        crate::store::trust::warn(primary);
    }
    let key = AuditKey::for_verify(
        env_key.as_deref(),
        args.audit_key_file.as_deref(),
        primary,
        &fallback,
    )?;
    let mut report = verify::verify(
        &located.audit,
        run_json.as_ref(),
        located.run_json.as_deref(),
        &key,
    )?;
    if let Some(path) = &args.witness {
        let run_id = report
            .run_id
            .clone()
            .or_else(|| run_json.as_ref().map(|r| r.run_id.clone()))
            .unwrap_or_default();
        let heads =
            crate::audit::witness::read_witness(path, &run_id).map_err(anyhow::Error::msg)?;
        if heads.is_empty() {
            eprintln!(
                "error: witness file {} holds no head of run {run_id}",
                path.display()
            );
            return Ok(exit::INVALID);
        }
        if matches!(report.outcome, Outcome::Intact | Outcome::Unfinished)
            && let Some(t) = crate::audit::witness::check(&located.audit, report.events, &heads)
                .map_err(anyhow::Error::msg)?
        {
            report.outcome = Outcome::Tampered(t);
        }
    }
    let code = match report.outcome {
        Outcome::Intact => exit::SUCCESS,
        Outcome::Tampered(_) => exit::FAILURE,
        Outcome::WrongKey { .. } => exit::INVALID,
        Outcome::Unfinished => exit::REGRESSION,
    };
    match args.format {
        Format::Json => print_json(&report, &located.audit, code, run_json.as_ref())?,
        Format::Human => print_human(&report, &located.audit)?,
    }
    Ok(code)
}

fn print_human(report: &Report, audit: &Path) -> anyhow::Result<()> {
    let span = match (&report.first_timestamp, &report.last_timestamp) {
        (Some(first), Some(last)) => format!(", {} → {}", escape(first), escape(last)),
        _ => String::new(),
    };
    let torn = match report.torn_lines {
        0 => String::new(),
        n => format!(", {n} torn line{} skipped", if n == 1 { "" } else { "s" }),
    };
    let events = format!(
        "{} event{}",
        report.events,
        if report.events == 1 { "" } else { "s" }
    );
    let mut out = std::io::stdout().lock();
    match &report.outcome {
        Outcome::Intact => writeln!(out, "intact: {events}{span}, key {}{torn}", report.key_id)?,
        Outcome::Unfinished => writeln!(
            out,
            "unfinished: an intact prefix of {events}{span} with no terminal event, key {}{torn}",
            report.key_id
        )?,
        Outcome::Tampered(t) => writeln!(
            out,
            "tampered: seq {} {}: {} ({})",
            t.seq,
            t.kind.as_str(),
            escape(&t.message),
            escape(&audit.display().to_string())
        )?,
        Outcome::WrongKey { chain_key_id } => eprintln!(
            "error: wrong key: {} was written with key {}, the key given is {} \
             (set {KEY_ENV} or pass --audit-key-file)",
            escape(&audit.display().to_string()),
            escape(chain_key_id),
            report.key_id
        ),
    }
    Ok(())
}

fn print_json(
    report: &Report,
    audit: &Path,
    code: i32,
    run_json: Option<&RunJsonAudit>,
) -> anyhow::Result<()> {
    let (status, tamper, chain_key_id) = match &report.outcome {
        Outcome::Intact => ("intact", None, None),
        Outcome::Unfinished => ("unfinished", None, None),
        Outcome::Tampered(t) => ("tampered", Some(t), None),
        Outcome::WrongKey { chain_key_id } => ("wrong_key", None, Some(chain_key_id)),
    };
    let value = serde_json::json!({
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "status": status,
        "exit_code": code,
        "file": audit.display().to_string(),
        "run_json": run_json.is_some(),
        "run_id": report.run_id,
        "events": report.events,
        "first_timestamp": report.first_timestamp,
        "last_timestamp": report.last_timestamp,
        "key_id": report.key_id,
        "chain_key_id": chain_key_id,
        "last_hash": report.last_hash,
        "torn_lines": report.torn_lines,
        "anchor_verified": report.anchor_verified,
        "tamper": tamper,
    });
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

/// The files to verify.
struct Located {
    audit: PathBuf,
    run_json: Option<PathBuf>,
    /// The state directory a run directory appears to live in (`<state>/runs/<id>`).
    state_dir_guess: Option<PathBuf>,
}

/// Resolves `RUN|FILE`: an existing file or directory path, else a run id, a unique id
/// prefix or `last` under `<state_dir>/runs`.
fn locate(target: &str, state_dir: &Path) -> anyhow::Result<Located> {
    let path = Path::new(target);
    if path.is_file() {
        let run_json = path
            .parent()
            .map(|d| d.join("run.json"))
            .filter(|p| p.is_file());
        return Ok(Located {
            audit: path.to_path_buf(),
            state_dir_guess: path.parent().and_then(state_of_run_dir),
            run_json,
        });
    }
    let run_dir = if path.is_dir() {
        path.to_path_buf()
    } else if target.contains('/') {
        bail!("no such file or directory: {target}");
    } else {
        find_run(target, state_dir)?
    };
    let audit = run_dir.join(AUDIT_FILE_NAME);
    // `exists`, not `is_file`: a FIFO or device in their place is refused by the reader with
    // a message saying so, never skipped silently nor waited on.
    if !audit.exists() {
        bail!("{} has no {AUDIT_FILE_NAME}", run_dir.display());
    }
    let run_json = Some(run_dir.join("run.json")).filter(|p| p.exists());
    Ok(Located {
        audit,
        run_json,
        state_dir_guess: state_of_run_dir(&run_dir),
    })
}

/// `<state>` for a directory shaped `<state>/runs/<id>`.
fn state_of_run_dir(dir: &Path) -> Option<PathBuf> {
    let runs = dir.parent()?;
    (runs.file_name()? == "runs").then(|| runs.parent().map(Path::to_path_buf))?
}

/// A run directory by exact id, unique prefix or `last`, as every command resolves `RUN`.
fn find_run(target: &str, state_dir: &Path) -> anyhow::Result<PathBuf> {
    Ok(crate::store::resolve::resolve_run(state_dir, target)?)
}
