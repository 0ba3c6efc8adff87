//! The usage file: what `secflow job-wrapper` measured about the command it ran, written
//! as one JSON object beside the attempt's output (`<attempt dir>/usage.json`) and read back
//! by the executor. One serde type shared by writer and reader.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The current usage-file schema version.
pub const USAGE_SCHEMA_VERSION: u32 = 1;

/// The file name inside an attempt's directory.
pub const USAGE_FILE: &str = "usage.json";

/// Figures from the kernel's rusage of the reaped child (covering its reaped descendants),
/// the same figures the local executor records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub schema_version: u32,
    /// When the wrapper started the command / saw it end (Unix epoch, ms).
    pub started_unix_ms: u64,
    pub ended_unix_ms: u64,
    pub wall_ms: u64,
    pub cpu_user_ms: u64,
    pub cpu_system_ms: u64,
    pub peak_rss_bytes: u64,
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Exit status when the command exited.
    pub exit_code: Option<i32>,
    /// Signal that killed it, when one did.
    pub signal: Option<i32>,
    /// Why the command could not be started at all (then both of the above are None).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The Slurm job id, from `SLURM_JOB_ID` inside the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The host the command ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Left-over processes of the command the wrapper ended after it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killed_descendants: Option<u64>,
}

/// Why a usage file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usage record: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl Usage {
    /// Reads a usage file.
    pub fn read(path: &Path) -> Result<Usage, UsageError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsageError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| UsageError::Json {
            path: path.display().to_string(),
            source,
        })
    }

    /// Writes it atomically (temp file in the same directory, then rename), so a reader
    /// never sees half a record.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(USAGE_FILE);
        let u = Usage {
            schema_version: USAGE_SCHEMA_VERSION,
            wall_ms: 12,
            exit_code: Some(3),
            job_id: Some("42".into()),
            ..Usage::default()
        };
        u.write(&path).unwrap();
        assert_eq!(Usage::read(&path).unwrap(), u);
        assert!(Usage::read(&dir.path().join("nope")).is_err());
    }
}
