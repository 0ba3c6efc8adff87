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
/// Interrupted by SIGINT/SIGTERM (128 + SIGINT).
pub const INTERRUPTED: i32 = 130;
