//! `/api/runs…` (SPEC §11): the run list, a run's `run.json`, its analysis (the JSON of
//! `performance-analysis --format json` for that one run) and its logs as JSON lines.

use std::path::Path;

use super::history;
use super::http::{Request, Response};
use super::router::State;
use crate::analysis::{self, CompareOptions, LoadOptions};
use crate::report::{ReportFormat, renderer};
use crate::telemetry::log::{LogLevel, LogRecord};
pub use crate::telemetry::log_filter::LogFilter;

/// Most runs `/api/runs` returns when `limit` is not given.
const DEFAULT_LIMIT: usize = 1000;
/// Most log records one `/api/runs/{id}/logs` answer holds (the newest are kept).
pub const MAX_LOG_RECORDS: usize = 10_000;

/// `GET /api/runs?limit=&workflow=`.
pub fn runs(state: &State, req: &Request) -> Response {
    let limit = match req.param("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.trim().parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Response::error(400, "limit must be a non-negative integer"),
        },
    };
    let workflow = req.param("workflow");
    let listing = history::listing(state);
    let list: Vec<history::ApiRun<'_>> = listing
        .runs
        .iter()
        .filter(|r| {
            workflow
                .as_ref()
                .is_none_or(|w| r.workflow.as_ref() == Some(w))
        })
        .take(limit)
        .map(|r| r.to_api())
        .collect();
    #[derive(serde::Serialize)]
    struct Runs<'a> {
        schema_version: u32,
        runs: Vec<history::ApiRun<'a>>,
    }
    let mut body = serde_json::to_vec(&Runs {
        schema_version: 1,
        runs: list,
    })
    .unwrap_or_else(|_| b"{}".to_vec());
    body.push(b'\n');
    Response::new(200, "application/json", body)
}

fn not_found() -> Response {
    Response::error(404, "no such run")
}

/// `GET /api/runs/{id}`: run.json as recorded (422 when it cannot be parsed).
pub fn run(state: &State, id: &str) -> Response {
    let Some(dir) = state.run_dir(id) else {
        return not_found();
    };
    match crate::store::open::read_regular(&dir.join("run.json")) {
        Ok(bytes) if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() => {
            Response::new(200, "application/json", bytes)
        }
        Ok(_) => Response::error(422, "run.json is corrupt (not JSON)"),
        Err(e) => Response::error(422, &format!("cannot read run.json: {e}")),
    }
}

/// The analysis report of one run.
pub fn analysis_report(dir: &Path) -> Result<analysis::AnalysisReport, String> {
    let mut input =
        analysis::load_run(dir, LoadOptions::record_only()).map_err(|e| e.to_string())?;
    let mut full = LoadOptions::full();
    full.threads = 1;
    analysis::load_extras(&mut input, full).map_err(|e| e.to_string())?;
    analysis::analyze(vec![input], None, &CompareOptions::default())
        .ok_or_else(|| "no run to analyse".to_string())
}

/// `GET /api/runs/{id}/analysis`.
pub fn analysis(state: &State, id: &str) -> Response {
    let Some(dir) = state.run_dir(id) else {
        return not_found();
    };
    let report = match analysis_report(&dir) {
        Ok(r) => r,
        Err(e) => return Response::error(422, &e),
    };
    match renderer(ReportFormat::Json).render(&report) {
        Ok(bytes) => Response::new(200, "application/json", bytes),
        Err(e) => Response::error(500, &e.to_string()),
    }
}

/// The log filter of `?node=&level=` (the same [`LogFilter`] as `secflow logs`: a template
/// id also selects its instances).
pub fn log_filter(req: &Request) -> Result<LogFilter, String> {
    let level =
        match req.param("level").filter(|l| !l.is_empty()) {
            None => None,
            Some(l) => Some(LogLevel::parse(&l).ok_or_else(|| {
                "level must be one of TRACE, DEBUG, INFO, WARN, ERROR".to_string()
            })?),
        };
    Ok(LogFilter {
        node: req.param("node").filter(|n| !n.is_empty()),
        level,
        ..LogFilter::default()
    })
}

/// The raw JSON lines of `logs.jsonl` the filter keeps (the newest [`MAX_LOG_RECORDS`]), with
/// the record parsed; bad or torn lines are skipped.
pub fn read_logs(dir: &Path, filter: &LogFilter) -> Result<Vec<(Vec<u8>, LogRecord)>, String> {
    let mut reader =
        crate::store::jsonl::JsonlReader::<LogRecord, _>::open(&dir.join("logs.jsonl"))
            .map_err(|e| format!("cannot read logs.jsonl: {e}"))?;
    let mut out = std::collections::VecDeque::new();
    while let Some(item) = reader.next() {
        let Ok(record) = item else { continue };
        if filter.keeps(&record) {
            if out.len() == MAX_LOG_RECORDS {
                out.pop_front();
            }
            out.push_back((reader.last_line().to_vec(), record));
        }
        reader.release_line();
    }
    Ok(out.into())
}

/// `GET /api/runs/{id}/logs?node=&level=`: JSON lines.
pub fn logs(state: &State, id: &str, req: &Request) -> Response {
    let Some(dir) = state.run_dir(id) else {
        return not_found();
    };
    let filter = match log_filter(req) {
        Ok(f) => f,
        Err(e) => return Response::error(400, &e),
    };
    match read_logs(&dir, &filter) {
        Ok(lines) => {
            let mut body = Vec::new();
            for (line, _) in lines {
                body.extend_from_slice(&line);
                body.push(b'\n');
            }
            Response::new(200, "application/x-ndjson", body)
        }
        Err(e) => Response::error(422, &e),
    }
}
