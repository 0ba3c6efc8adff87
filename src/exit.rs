//! Exit codes, named once and documented in README.md.
//!
//! Every command maps its outcome to one of these; nothing else calls `process::exit`.

/// The command did what was asked (a run succeeded, a recipe is valid).
pub const SUCCESS: i32 = 0;
/// A workflow ran and a node failed (or `audit verify` found tampering, or `export` could
/// not deliver to the collector).
pub const FAILURE: i32 = 1;
/// Invalid recipe, unreadable file, or bad command-line usage.
pub const INVALID: i32 = 2;
/// `performance-analysis --fail-on-regression` flagged a regression; `audit verify` saw an
/// unfinished run.
pub const REGRESSION: i32 = 3;
/// Records could not be written (SPEC §10 "Records fail closed"): the start records failed
/// (no node ran), or a record write failed mid-run (the run stopped; `reason` in run.json
/// says `records incomplete` as far as it could still be written).
pub const RECORDS_INCOMPLETE: i32 = 4;
/// The exit code of a run that ended as `end` (given to the engine as
/// `EngineConfig::exit_code`).
pub fn for_run(end: crate::event::RunEnd) -> i32 {
    use crate::event::RunEnd;
    match end {
        RunEnd::Succeeded => SUCCESS,
        RunEnd::Failed => FAILURE,
        RunEnd::RecordsIncomplete => RECORDS_INCOMPLETE,
        RunEnd::Cancelled {
            signal: Some(signal),
        } => 128 + signal,
        RunEnd::Cancelled { signal: None } => INTERRUPTED,
    }
}

/// Interrupted by SIGINT (128 + SIGINT). A run cancelled by another signal exits 128 + that
/// signal: 129 SIGHUP, 131 SIGQUIT, 143 SIGTERM.
pub const INTERRUPTED: i32 = 130;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RunEnd;

    #[test]
    fn a_run_end_maps_to_the_documented_codes() {
        assert_eq!(for_run(RunEnd::Succeeded), SUCCESS);
        assert_eq!(for_run(RunEnd::Failed), FAILURE);
        assert_eq!(for_run(RunEnd::RecordsIncomplete), RECORDS_INCOMPLETE);
        assert_eq!(for_run(RunEnd::Cancelled { signal: Some(15) }), 143);
        assert_eq!(for_run(RunEnd::Cancelled { signal: Some(2) }), INTERRUPTED);
        assert_eq!(for_run(RunEnd::Cancelled { signal: None }), INTERRUPTED);
    }
}
