//! The web UI of `serve`: the runs table at `/` and a run's page at `/runs/{id}` (summary,
//! audit verdict, logs with level/node filters, and its HTML report in a frame from
//! `/runs/{id}/report`). Self-contained: inline CSS and one small inline script, no asset from
//! the network (a Content-Security-Policy says so to the browser). Without JavaScript the pages
//! are complete; the runs page then refreshes itself (meta refresh) only while runs are live.
//! Every value from a record is HTML-escaped.

use std::path::Path;

use super::api::{log_filter, read_logs};
use super::history::{self, RunInfo};
use super::http::{Request, Response};
use super::router::State;
use crate::audit::verify::{self, Outcome};
use crate::report::{ReportFormat, html_escape as esc, renderer};

/// What the pages may load: only themselves.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   img-src 'self' data:; connect-src 'self'; frame-src 'self'; \
                   frame-ancestors 'self'; base-uri 'none'; form-action 'self'";

/// Log records shown on a run page (the newest).
const PAGE_LOG_RECORDS: usize = 500;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}\
.succeeded{color:#176f2c}.failed,.died,.corrupt,.tampered{color:#b00020}.running,.unfinished{color:#8a6d00}\
.unverifiable{color:#666}code{font-size:12px}iframe{width:100%;height:70vh;border:1px solid #ccc}\
pre{white-space:pre-wrap;font-size:12px}";

fn page(title: &str, head_extra: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style>{head_extra}</head><body>{body}</body></html>\n",
        esc(title)
    );
    Response::new(200, "text/html; charset=utf-8", html).with_header("content-security-policy", CSP)
}

fn ms_text(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".into(), crate::report::fmt_ms)
}

fn row(r: &RunInfo) -> String {
    let workflow = r.workflow.as_deref().unwrap_or("—");
    let status = match &r.reason {
        Some(why) => format!("corrupt ({})", crate::escape::escape_capped(why, 200)),
        None => r.status.to_string(),
    };
    format!(
        "<tr><td><a href=\"/runs/{id}\"><code>{id}</code></a></td><td>{}</td>\
         <td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(workflow),
        r.status,
        esc(&status),
        esc(r.started_at.as_deref().unwrap_or("—")),
        ms_text(r.duration_ms),
        r.findings_count
            .map_or_else(|| "—".into(), |n| n.to_string()),
        id = esc(&r.run_id),
    )
}

/// Re-fetches /api/runs every 2 s while a run is live and rewrites the table's rows with
/// text nodes only (never HTML from a record).
const LIVE_SCRIPT: &str = r#"<script>
(function () {
  var body = document.getElementById('runs');
  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text == null ? '\u2014' : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function ms(v) {
    if (v == null) return '\u2014';
    return v < 1000 ? v + ' ms' : (v / 1000).toFixed(2) + ' s';
  }
  function tick() {
    fetch('/api/runs?limit=200', {credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) throw new Error('status ' + r.status);
      return r.json();
    }).then(function (data) {
      var live = false;
      while (body.firstChild) body.removeChild(body.firstChild);
      data.runs.forEach(function (run) {
        var tr = document.createElement('tr');
        var td = document.createElement('td');
        var a = document.createElement('a');
        a.href = '/runs/' + encodeURIComponent(run.run_id);
        a.textContent = run.run_id;
        td.appendChild(a);
        tr.appendChild(td);
        cell(tr, run.workflow);
        cell(tr, run.status, run.status);
        cell(tr, run.started_at);
        cell(tr, ms(run.duration_ms));
        cell(tr, run.findings_count);
        body.appendChild(tr);
        if (run.status === 'running') live = true;
      });
      document.getElementById('live').textContent = live ? 'live: refreshing every 2 s' : '';
      if (live) setTimeout(tick, 2000);
    }).catch(function () { setTimeout(tick, 5000); });
  }
  if (document.body.dataset.live === '1') setTimeout(tick, 2000);
})();
</script>"#;

/// `GET /`: the runs table.
pub fn index(state: &State) -> Response {
    let listing = history::listing(state);
    let runs = &listing.runs;
    let live = runs.iter().any(|r| r.live());
    let rows: String = runs.iter().take(1000).map(|r| row(r)).collect();
    let head = if live {
        "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>"
    } else {
        ""
    };
    let body = format!(
        "<h1>secflow runs</h1><p>{} runs under <code>{}</code> <span id=\"live\">{}</span></p>\
         <table><thead><tr><th>run</th><th>workflow</th><th>status</th><th>started</th>\
         <th>duration</th><th>findings</th></tr></thead><tbody id=\"runs\">{rows}</tbody></table>\
         {LIVE_SCRIPT}",
        runs.len(),
        esc(&state.state_dir.display().to_string()),
        if live { "live: refreshing" } else { "" },
    );
    let mut resp = page("secflow runs", head, &body);
    // The script reads the flag from the body element.
    let html = String::from_utf8_lossy(&resp.body).replacen(
        "<body>",
        if live {
            "<body data-live=\"1\">"
        } else {
            "<body data-live=\"0\">"
        },
        1,
    );
    resp.body = html.into_bytes();
    resp
}

/// The audit verdict of a run: intact, unfinished, tampered or unverifiable, with a detail.
pub fn audit_verdict(state_dir: &Path, dir: &Path) -> (&'static str, String) {
    let audit = dir.join("audit.jsonl");
    if !audit.exists() {
        return ("unverifiable", "no audit.jsonl".into());
    }
    let run_json_path = dir.join("run.json");
    let run_json = verify::read_run_json(&run_json_path).ok();
    let env_key = crate::audit::key::env_key();
    let key = match crate::audit::AuditKey::for_verify(env_key.as_deref(), None, state_dir, &[]) {
        Ok(k) => k,
        Err(e) => return ("unverifiable", format!("no key: {e}")),
    };
    let path = run_json.as_ref().map(|_| run_json_path.as_path());
    match verify::verify(&audit, run_json.as_ref(), path, &key) {
        Ok(report) => match report.outcome {
            Outcome::Intact => ("intact", format!("{} events", report.events)),
            Outcome::Unfinished => ("unfinished", format!("{} events so far", report.events)),
            Outcome::Tampered(t) => ("tampered", format!("seq {}: {}", t.seq, t.message)),
            Outcome::WrongKey { chain_key_id } => (
                "unverifiable",
                format!("written with another key ({chain_key_id})"),
            ),
        },
        Err(e) => ("unverifiable", e.to_string()),
    }
}

fn logs_section(dir: &Path, req: &Request, id: &str) -> String {
    let filter = match log_filter(req) {
        Ok(f) => f,
        Err(e) => return format!("<p class=\"failed\">{}</p>", esc(&e)),
    };
    let level = req.param("level").unwrap_or_default();
    let node = req.param("node").unwrap_or_default();
    let options: String = ["", "TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
        .iter()
        .map(|l| {
            let selected = if l.eq_ignore_ascii_case(&level) {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{l}\"{selected}>{}</option>",
                if l.is_empty() { "any" } else { l }
            )
        })
        .collect();
    let mut out = format!(
        "<h2>Logs</h2><form method=\"get\" action=\"/runs/{}\">level <select name=\"level\">{options}</select> \
         node <input name=\"node\" value=\"{}\"> <button>filter</button></form>",
        esc(id),
        esc(&node)
    );
    match read_logs(dir, &filter) {
        Err(e) => out.push_str(&format!("<p>{}</p>", esc(&e))),
        Ok(lines) => {
            let skip = lines.len().saturating_sub(PAGE_LOG_RECORDS);
            out.push_str(&format!(
                "<p>{} records{}</p><table id=\"logs\"><thead><tr><th>time</th><th>level</th>\
                 <th>node</th><th>message</th></tr></thead><tbody>",
                lines.len(),
                if skip > 0 {
                    format!(" (the last {PAGE_LOG_RECORDS} shown)")
                } else {
                    String::new()
                }
            ));
            for (_, r) in lines.iter().skip(skip) {
                out.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&r.timestamp),
                    esc(r.level.as_str()),
                    esc(r.node_id.as_deref().unwrap_or("")),
                    esc(&crate::escape::escape_capped(&r.message, 2000)),
                ));
            }
            out.push_str("</tbody></table>");
        }
    }
    out
}

/// `GET /runs/{id}`.
pub fn run_page(state: &State, id: &str, req: &Request) -> Response {
    let Some(dir) = state.run_dir(id) else {
        return Response::new(
            404,
            "text/html; charset=utf-8",
            "<!DOCTYPE html><title>not found</title><p>No such run.</p>\n",
        );
    };
    let info = history::read(&dir);
    let (verdict, detail) = audit_verdict(&state.state_dir, &dir);
    let status = match &info.reason {
        Some(why) => format!("corrupt ({why})"),
        None => info.status.to_string(),
    };
    let body = format!(
        "<p><a href=\"/\">← runs</a></p><h1>Run <code>{id}</code></h1><table id=\"summary\">\
         <tr><th>workflow</th><td>{}</td></tr><tr><th>status</th><td class=\"{}\">{}</td></tr>\
         <tr><th>started</th><td>{}</td></tr><tr><th>duration</th><td>{}</td></tr>\
         <tr><th>findings</th><td>{}</td></tr><tr><th>exit code</th><td>{}</td></tr>\
         <tr><th>audit</th><td id=\"audit\" class=\"{verdict}\">{verdict}: {}</td></tr></table>\
         <p><a href=\"/api/runs/{id}\">run.json</a> · <a href=\"/api/runs/{id}/analysis\">analysis JSON</a> · \
         <a href=\"/api/runs/{id}/logs\">logs (JSON lines)</a> · <a href=\"/runs/{id}/report\">report</a></p>\
         <h2>Report</h2><iframe id=\"report\" title=\"report\" src=\"/runs/{id}/report\"></iframe>{}",
        esc(info.workflow.as_deref().unwrap_or("—")),
        info.status,
        esc(&status),
        esc(info.started_at.as_deref().unwrap_or("—")),
        ms_text(info.duration_ms),
        info.findings_count
            .map_or_else(|| "—".into(), |n| n.to_string()),
        info.exit_code.map_or_else(|| "—".into(), |n| n.to_string()),
        esc(&detail),
        logs_section(&dir, req, id),
        id = esc(id),
    );
    let title = format!("secflow run {id}");
    // A live run's page follows it (with or without JavaScript) until it ends.
    let head = if info.live() {
        "<meta http-equiv=\"refresh\" content=\"5\">"
    } else {
        ""
    };
    page(&title, head, &body)
}

/// `GET /runs/{id}/report`: the run's HTML performance report.
pub fn report(state: &State, id: &str) -> Response {
    let Some(dir) = state.run_dir(id) else {
        return Response::error(404, "no such run");
    };
    let report = match super::api::analysis_report(&dir) {
        Ok(r) => r,
        Err(e) => {
            return page(
                "report",
                "",
                &format!("<p class=\"corrupt\">No report: {}</p>", esc(&e)),
            );
        }
    };
    match renderer(ReportFormat::Html).render(&report) {
        Ok(bytes) => Response::new(200, "text/html; charset=utf-8", bytes)
            .with_header("content-security-policy", CSP),
        Err(e) => Response::error(500, &e.to_string()),
    }
}
