//! Routes of `secflow serve` and the bearer-token check in front of them.
//!
//! Every endpoint but `/healthz` needs `Authorization: Bearer <token>` when a token is set
//! (401 otherwise); the comparison is constant-time (both sides hashed, then compared without
//! an early exit). Only GET and HEAD are served. A run id is checked by [`run_id`] before it
//! names any path.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::history::Cache;
use super::http::{Request, Response};

/// What every request shares.
pub struct State {
    pub state_dir: PathBuf,
    token_digest: Option<[u8; 32]>,
    pub history: Mutex<Cache>,
}

impl State {
    pub fn new(state_dir: PathBuf, token: Option<String>) -> Self {
        State {
            history: Mutex::new(Cache::new(state_dir.clone())),
            state_dir,
            token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    /// Whether the request may go on: no token set, or the right one given.
    fn authorized(&self, req: &Request) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let given = req
            .authorization
            .as_deref()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or("");
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        // No early exit: the time does not depend on where the digests differ.
        let diff = expected
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }

    /// `<state-dir>/runs/<id>` when `id` is a well-formed id of an existing run directory.
    pub fn run_dir(&self, id: &str) -> Option<PathBuf> {
        let id = run_id(id)?;
        let dir = crate::store::history::runs_dir(&self.state_dir).join(id);
        std::fs::symlink_metadata(&dir)
            .ok()
            .filter(std::fs::Metadata::is_dir)
            .map(|_| dir)
    }
}

/// A run id as it may appear in a URL: 1 to 128 of `[A-Za-z0-9._-]`, not starting with `.`
/// (so never `.`, `..` or a hidden entry). Anything else is a 404, never a path.
pub fn run_id(id: &str) -> Option<&str> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(id)
}

/// Answers one request.
pub fn handle(state: &State, req: Request) -> Response {
    if req.method != hyper::Method::GET && req.method != hyper::Method::HEAD {
        return Response::error(405, "only GET and HEAD are served")
            .with_header("allow", "GET, HEAD");
    }
    if req.path == "/favicon.ico" {
        return Response::new(204, "image/x-icon", Vec::new());
    }
    if req.path == "/healthz" {
        return Response::json(200, &serde_json::json!({ "status": "ok" }));
    }
    if !state.authorized(&req) {
        return Response::error(401, "missing or wrong bearer token")
            .with_header("www-authenticate", "Bearer realm=\"secflow\"");
    }
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["readyz"] => readyz(&state.state_dir),
        ["metrics"] => super::history::metrics(state),
        ["api", "runs"] => super::api::runs(state, &req),
        ["api", "runs", id] => super::api::run(state, id),
        ["api", "runs", id, "analysis"] => super::api::analysis(state, id),
        ["api", "runs", id, "logs"] => super::api::logs(state, id, &req),
        [""] => super::ui::index(state),
        ["runs", id] => super::ui::run_page(state, id, &req),
        ["runs", id, "report"] => super::ui::report(state, id),
        _ => Response::error(404, "not found"),
    }
}

/// 200 when the state directory exists and can be listed, else 503 with the reason.
fn readyz(dir: &Path) -> Response {
    let shown = crate::escape::escape(&dir.display().to_string()).into_owned();
    let reason = match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Some(format!("state directory {shown} is not a directory")),
        Ok(_) => std::fs::read_dir(dir)
            .err()
            .map(|e| format!("state directory {shown} cannot be read: {e}")),
        Err(e) => Some(format!("state directory {shown}: {e}")),
    };
    match reason {
        None => Response::json(200, &serde_json::json!({ "status": "ready" })),
        Some(reason) => Response::json(
            503,
            &serde_json::json!({ "status": "unavailable", "reason": reason }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_that_could_name_another_path_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a%2Fb", "a b", "é"] {
            assert!(run_id(bad).is_none(), "{bad}");
        }
        assert_eq!(run_id("01J0ABC-x_y.z"), Some("01J0ABC-x_y.z"));
    }

    #[test]
    fn the_token_must_match_exactly() {
        let state = State::new(PathBuf::from("/nonexistent"), Some("s3cret".into()));
        let req = |auth: Option<&str>| Request {
            method: hyper::Method::GET,
            path: "/metrics".into(),
            query: String::new(),
            authorization: auth.map(str::to_string),
        };
        assert!(state.authorized(&req(Some("Bearer s3cret"))));
        assert!(!state.authorized(&req(Some("Bearer s3cre"))));
        assert!(!state.authorized(&req(Some("s3cret"))));
        assert!(!state.authorized(&req(None)));
        assert_eq!(handle(&state, req(None)).status, 401);
        let mut health = req(None);
        health.path = "/healthz".into();
        assert_eq!(handle(&state, health).status, 200);
    }
}
