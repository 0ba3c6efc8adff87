//! Stopping jobs with `scancel`: one job, a signal to one job, or every job of a run in as
//! few calls as possible. A job that already ended is not an error.

use std::ffi::OsString;
use std::time::Duration;

use super::{Client, SlurmError, command};

/// Job ids per `scancel` call (keeps the command line short).
const CHUNK: usize = 256;

/// Cancels one job: Slurm sends SIGTERM to all its processes, then SIGKILL after its
/// `KillWait`, and the job ends `CANCELLED`.
pub async fn cancel_job(client: &Client, job_id: &str) -> Result<(), SlurmError> {
    cancel_all(client, &[job_id.to_string()]).await
}

/// Sends `signal` (e.g. `TERM`, `KILL`) to every process of each running job in `job_ids`
/// (`--full`: the batch script's too) without cancelling it; each job then ends by that
/// signal. Slurm refuses to signal a pending job (an error here): cancel those instead.
pub async fn signal_all(
    client: &Client,
    job_ids: &[String],
    signal: &str,
) -> Result<(), SlurmError> {
    for chunk in job_ids.chunks(CHUNK) {
        let mut args: Vec<OsString> = vec!["--full".into(), format!("--signal={signal}").into()];
        args.extend(chunk.iter().map(OsString::from));
        ok_if_gone(command::run(client, &client.tools.scancel, &args).await)?;
    }
    Ok(())
}

/// Cancels every job in `job_ids` (one `scancel` per 256 ids).
pub async fn cancel_all(client: &Client, job_ids: &[String]) -> Result<(), SlurmError> {
    for chunk in job_ids.chunks(CHUNK) {
        let args: Vec<OsString> = chunk.iter().map(OsString::from).collect();
        ok_if_gone(command::run(client, &client.tools.scancel, &args).await)?;
    }
    Ok(())
}

/// [`cancel_all`] without an async runtime, for drop paths; each call waits at most
/// `timeout`.
pub fn cancel_all_blocking(
    client: &Client,
    job_ids: &[String],
    timeout: Duration,
) -> Result<(), SlurmError> {
    for chunk in job_ids.chunks(CHUNK) {
        let args: Vec<OsString> = chunk.iter().map(OsString::from).collect();
        command::run_blocking(client, &client.tools.scancel, &args, timeout)?;
    }
    Ok(())
}

fn ok_if_gone(result: Result<command::Output, SlurmError>) -> Result<(), SlurmError> {
    match result {
        Ok(_) => Ok(()),
        Err(SlurmError::Rejected { message, .. })
            if message.contains("already completing or completed")
                || message.contains("Invalid job id") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}
