//! Redaction: the values of declared secrets become `[REDACTED]` in every string a sink
//! writes, and configuration keys that name credentials are masked wherever config is
//! logged. A [`Redactor`] with no secrets is free: it returns its input borrowed.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Substrings that make a config key sensitive, compared with the key lowercased and its `-`
/// and `_` removed (`X-Api-Key`, `api_key` and `apikey` alike).
pub const SENSITIVE_KEY_PARTS: [&str; 14] = [
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "token",
    "secret",
    "apikey",
    "authorization",
    "bearer",
    "privatekey",
    "cookie",
    "credential",
    "session",
    "dsn",
];

/// Replaces secret values in text. Longer secrets are replaced first, so a secret that
/// contains another is masked whole.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// From the run's secret values (`RunContext::secret_values`); empty values are ignored.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret value replaced by [`MASK`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out: Cow<'a, str> = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }

    /// Redacts `text` in place.
    pub fn redact_string(&self, text: &mut String) {
        if let Cow::Owned(s) = self.redact(text) {
            *text = s;
        }
    }

    /// Redacts every string (keys included) inside a JSON value.
    pub fn redact_json(&self, value: &mut Value) {
        self.redact_value(value, false);
    }

    /// [`Redactor::redact_json`] for JSON a tool wrote (`SECFLOW_EVENTS`): numbers too. A
    /// number is text there (a PIN, an account id): one that shows a secret becomes the mask,
    /// a string (a metric value masked so is then refused as not a number). secflow's own
    /// numbers (durations, sizes) are left alone.
    pub fn redact_tool_json(&self, value: &mut Value) {
        self.redact_value(value, true);
    }

    fn redact_value(&self, value: &mut Value, numbers: bool) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => self.redact_string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v, numbers)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (mut k, mut v) in entries {
                    self.redact_string(&mut k);
                    self.redact_value(&mut v, numbers);
                    map.insert(k, v);
                }
            }
            Value::Number(n) if numbers => {
                let text = n.to_string();
                if self.secrets.iter().any(|s| text.contains(s.as_str())) {
                    *value = Value::String(MASK.into());
                }
            }
            Value::Number(_) | Value::Null | Value::Bool(_) => {}
        }
    }

    /// Redacts the keys and values of a flat map of JSON values.
    pub fn redact_map(&self, map: &mut BTreeMap<String, Value>) {
        if self.is_empty() {
            return;
        }
        let entries = std::mem::take(map);
        for (mut k, mut v) in entries {
            self.redact_string(&mut k);
            self.redact_json(&mut v);
            map.insert(k, v);
        }
    }
}

/// Redacts a byte stream that arrives in chunks (captured stdout/stderr), so a secret split
/// across two chunks is still masked: the last `longest secret - 1` bytes are held back
/// until the next chunk (or [`StreamRedactor::finish`]) shows whether they begin a secret.
#[derive(Debug, Clone)]
pub struct StreamRedactor {
    secrets: Vec<Vec<u8>>,
    keep: usize,
    carry: Vec<u8>,
}

impl StreamRedactor {
    pub fn new(redactor: &Redactor) -> Self {
        let secrets: Vec<Vec<u8>> = redactor
            .secrets
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let keep = secrets
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(1)
            .saturating_sub(1);
        StreamRedactor {
            secrets,
            keep,
            carry: Vec::new(),
        }
    }

    /// Feeds a chunk; returns the bytes now safe to write.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.secrets.is_empty() {
            return chunk.to_vec();
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        let limit = data.len().saturating_sub(self.keep);
        let (out, used) = self.scan(&data, limit);
        self.carry = data[used..].to_vec();
        out
    }

    /// The held-back bytes, redacted: call once at the end of the stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let data = std::mem::take(&mut self.carry);
        let (mut out, used) = self.scan(&data, data.len());
        out.extend_from_slice(&data[used..]);
        out
    }

    /// Replaces secrets starting before `limit` (longest first); returns the output and how
    /// many input bytes it covers.
    fn scan(&self, data: &[u8], limit: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(data.len());
        let mut i = 0;
        while i < limit {
            let b = data[i];
            match self
                .secrets
                .iter()
                .find(|s| s[0] == b && data[i..].starts_with(s))
            {
                Some(s) => {
                    out.extend_from_slice(MASK.as_bytes());
                    i += s.len();
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        (out, i)
    }
}

/// Whether a config key names a credential (case-insensitive substring match, ignoring `-`
/// and `_`).
pub fn is_sensitive_key(key: &str) -> bool {
    let lower: String = key
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SENSITIVE_KEY_PARTS.iter().any(|part| lower.contains(part))
        // `db_pass`, `basic_auth`, `auth`, `oauth_header` — but not `passive`, `bypass_cache`
        // or `author`.
        || lower.ends_with("pass")
        || (lower.contains("auth") && !lower.contains("author"))
}

/// A copy of `config` fit to log: values under sensitive keys (at any depth) are [`MASK`],
/// and secret values anywhere else are redacted.
pub fn mask_config(
    config: &BTreeMap<String, Value>,
    redactor: &Redactor,
) -> BTreeMap<String, Value> {
    config
        .iter()
        .map(|(k, v)| {
            let mut v = mask_value(k, v);
            redactor.redact_json(&mut v);
            (redactor.redact(k).into_owned(), v)
        })
        .collect()
}

fn mask_value(key: &str, value: &Value) -> Value {
    if is_sensitive_key(key) {
        return Value::String(MASK.into());
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_value(k, v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| mask_value("", v)).collect()),
        Value::String(text) => Value::String(mask_userinfo(text).into_owned()),
        other => other.clone(),
    }
}

/// `scheme://user:password@host…` with its user information masked, wherever it appears
/// in `text` (a database DSN, a proxy URL under an innocent key).
fn mask_userinfo(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(['/', '?', '#', ' ', '"']).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(userinfo_end) => {
                out.push_str(MASK);
                changed = true;
                rest = &tail[userinfo_end..];
            }
            None => rest = tail,
        }
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {

    /// Found by the adversarial probe: `x-api-key`, `apikey`, `private_key`, `passwd` and
    /// `cookie` were shown in the `--debug` console.
    #[test]
    fn credential_keys_are_recognised_in_their_usual_spellings() {
        for key in [
            "password",
            "X-Api-Key",
            "apikey",
            "ApiKey",
            "api_key",
            "private_key",
            "passwd",
            "Cookie",
            "aws_secret_access_key",
            "Authorization",
            "session_id",
            "GITHUB_TOKEN",
            "db_pass",
            "pwd",
            "auth",
            "oauth_header",
            "Bearer",
            "sentry_dsn",
        ] {
            assert!(is_sensitive_key(key), "{key}");
        }
        for key in [
            "target",
            "wordlist",
            "threads",
            "url",
            "keyword",
            "passive",
            "bypass_cache",
            "author",
        ] {
            assert!(!is_sensitive_key(key), "{key}");
        }
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn user_information_in_urls_is_masked_in_logged_config() {
        let config = BTreeMap::from([
            ("db".to_string(), json!("postgres://app:hunter9@db:5432/x")),
            (
                "proxy".to_string(),
                json!(["http://u:p@proxy:3128", "http://plain:80/a@b"]),
            ),
        ]);
        let masked = mask_config(&config, &Redactor::default());
        assert_eq!(masked["db"], json!("postgres://[REDACTED]@db:5432/x"));
        assert_eq!(
            masked["proxy"],
            json!(["http://[REDACTED]@proxy:3128", "http://plain:80/a@b"])
        );
    }

    #[test]
    fn masks_secret_values_longest_first() {
        let r = Redactor::new(["abc", "abcdef", ""]);
        assert_eq!(r.redact("x abcdef y abc"), "x [REDACTED] y [REDACTED]");
        assert!(matches!(r.redact("clean"), Cow::Borrowed(_)));
        let mut v = json!({"k": ["abc", {"abcdef": 1}], "n": 2});
        r.redact_json(&mut v);
        assert_eq!(v, json!({"k": ["[REDACTED]", {"[REDACTED]": 1}], "n": 2}));
    }

    #[test]
    fn numbers_a_tool_wrote_that_show_a_secret_are_masked() {
        let r = Redactor::new(["98765432101"]);
        let mut v =
            json!({"pin": 98765432101u64, "f": 98765432101.0, "n": [1, -98765432101i64], "ok": 42});
        let mut own = v.clone();
        r.redact_json(&mut own);
        assert_eq!(
            own["pin"], 98765432101u64,
            "secflow's own numbers are left alone"
        );
        r.redact_tool_json(&mut v);
        assert_eq!(
            v,
            json!({"pin": "[REDACTED]", "f": "[REDACTED]", "n": [1, "[REDACTED]"], "ok": 42})
        );
    }

    #[test]
    fn stream_masks_a_secret_split_across_chunks_at_every_point() {
        let r = Redactor::new(["hunter22", "hunt"]);
        let text = b"a hunter22 b hunt c hunter2";
        for split in 0..text.len() {
            let mut s = StreamRedactor::new(&r);
            let mut out = s.push(&text[..split]);
            out.extend(s.push(&text[split..]));
            out.extend(s.finish());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "a [REDACTED] b [REDACTED] c [REDACTED]er2",
                "split at {split}"
            );
        }
        let mut none = StreamRedactor::new(&Redactor::default());
        assert_eq!(none.push(b"abc"), b"abc");
        assert!(none.finish().is_empty());
    }

    #[test]
    fn masks_sensitive_config_keys_at_any_depth() {
        let config: BTreeMap<String, Value> = serde_json::from_value(json!({
            "API_KEY": "k1", "threads": 5, "proxy": {"Authorization": "Bearer x", "user": "me"},
            "url": "http://h?q=s3cr3t", "db_password": {"nested": true}
        }))
        .unwrap();
        let masked = mask_config(&config, &Redactor::new(["s3cr3t"]));
        assert_eq!(
            serde_json::to_value(&masked).unwrap(),
            json!({"API_KEY": MASK, "threads": 5, "proxy": {"Authorization": MASK, "user": "me"},
                   "url": "http://h?q=[REDACTED]", "db_password": MASK})
        );
    }
}
