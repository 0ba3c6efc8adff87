//! The fast path over `logs.jsonl`: per node, the count, sum/avg/max of `duration_ms` and
//! the sum of `findings_count` of "node completed" records, plus the overall p95.
//!
//! Guarantees: bounded memory whatever the file size (a 1 MiB read buffer per thread, one map
//! entry per distinct node, a fixed histogram); a torn last line is counted, never fatal.
//! Speed comes from never looking at most lines and allocating for none: a SIMD substring
//! search (`memchr::memmem`) finds the `"node completed"` string token, only the line around
//! each hit is scanned (by `quickscan`, a strict byte scan that borrows the four fields; serde
//! decides the rare lines outside its simple case), blocks are small enough to be scanned
//! while still in L2, and the file is split into byte ranges at line boundaries, one thread
//! each. `invalid_lines` counts every line that is not one `{…}` object (a framing check on
//! every line) plus "node completed" lines that do not parse.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memchr::memmem::Finder;
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::AnalysisError;
use super::model::{LogAggregate, LogNodeAggregate};
use super::quickscan;

/// The message of the record logged when a node succeeds (SPEC §4 log record).
pub const NODE_COMPLETED: &str = "node completed";

/// Read size: small enough that a block read is still in L2 when it is scanned.
const CHUNK: usize = 1 << 20;
/// Files smaller than this are read by one thread.
const SPLIT_MIN: u64 = 16 << 20;

/// A log-linear histogram of u64 values: exact below 256, then 128 sub-buckets per power of
/// two (relative error under 0.8 %). Fixed size, mergeable.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; ((64 - SUB_BITS as usize) + 2) * SUB as usize],
            total: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // ≥ SUB_BITS + 1
        let shift = exp - SUB_BITS;
        let mantissa = (v >> shift) - SUB; // 0..SUB
        ((shift as u64 + 1) * SUB + mantissa) as usize
    }

    /// The largest value in bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = i / SUB - 1;
        let mantissa = i % SUB + SUB;
        (mantissa + 1)
            .checked_mul(1u64 << shift)
            .map_or(u64::MAX, |x| x - 1)
    }

    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// Nearest-rank quantile (upper edge of its bucket); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i);
            }
        }
        0
    }
}

/// The cheap check every line gets: blank, or one `{…}` object (a record line). A line that
/// passes it but holds a broken object is found only when it is parsed (a "node completed"
/// line); parsing every line would cost several times the scan.
fn framed(line: &[u8]) -> bool {
    match line.trim_ascii() {
        [] => true,
        [first, .., last] => *first == b'{' && *last == b'}',
        [_] => false,
    }
}

/// The aggregate's four fields as serde reads them (the reference `quickscan` must match).
#[derive(Deserialize)]
struct Completed<'a> {
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow, default)]
    node_id: Option<Cow<'a, str>>,
    #[serde(default)]
    duration_ms: Option<u64>,
    #[serde(default)]
    findings_count: Option<u64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    count: u64,
    sum: u64,
    max: u64,
    findings: u64,
}

#[derive(Debug, Default)]
struct Partial {
    nodes: HashMap<Box<str>, Acc>,
    hist: Histogram,
    records: u64,
    invalid: u64,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        for (k, v) in other.nodes {
            let a = self.nodes.entry(k).or_default();
            a.count += v.count;
            a.sum = a.sum.saturating_add(v.sum);
            a.max = a.max.max(v.max);
            a.findings = a.findings.saturating_add(v.findings);
        }
        self.hist.merge(&other.hist);
        self.records += other.records;
        self.invalid += other.invalid;
    }

    /// Parses one candidate line; false if it is not valid JSON. The byte scan of
    /// `quickscan` answers for ordinary lines; serde decides the rest (see that module).
    fn line(&mut self, line: &[u8]) -> bool {
        let (message, id, d, findings) = match quickscan::scan(line) {
            Some(f) => (
                Cow::Borrowed(f.message),
                f.node_id.map(Cow::Borrowed),
                f.duration_ms,
                f.findings_count,
            ),
            None => match serde_json::from_slice::<Completed>(line) {
                Ok(r) => (
                    match r.message {
                        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
                    },
                    r.node_id,
                    r.duration_ms,
                    r.findings_count,
                ),
                Err(_) => return false,
            },
        };
        if *message != *NODE_COMPLETED.as_bytes() {
            return true;
        }
        self.count(
            id.as_deref().unwrap_or(""),
            d.unwrap_or(0),
            findings.unwrap_or(0),
        );
        true
    }

    fn count(&mut self, id: &str, d: u64, findings: u64) {
        let acc = match self.nodes.get_mut(id) {
            Some(a) => a,
            None => self.nodes.entry(id.into()).or_default(),
        };
        acc.count += 1;
        acc.sum = acc.sum.saturating_add(d);
        acc.max = acc.max.max(d);
        acc.findings = acc.findings.saturating_add(findings);
        self.hist.record(d);
        self.records += 1;
    }

    /// Scans a buffer of complete lines: every line gets the framing check, lines holding
    /// the `"node completed"` token a full parse.
    fn scan(&mut self, finder: &Finder, buf: &[u8]) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf).chain(std::iter::once(buf.len())) {
            if !framed(&buf[start..end]) {
                self.invalid += 1;
            }
            start = end + 1;
        }
        let mut pos = 0;
        while let Some(hit) = finder.find(&buf[pos..]) {
            let hit = pos + hit;
            let start = memchr::memrchr(b'\n', &buf[..hit]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &buf[hit..]).map_or(buf.len(), |i| hit + i);
            let line = &buf[start..end];
            // A line failing the framing check was counted above.
            if framed(line) && !self.line(line) {
                self.invalid += 1;
            }
            pos = end;
        }
    }
}

/// Aggregates "node completed" records of a logs.jsonl file with `threads` threads.
pub fn aggregate_logs(path: &Path, threads: usize) -> Result<LogAggregate, AnalysisError> {
    let file = crate::store::open::open_regular(path).map_err(|e| AnalysisError::io(path, e))?;
    let len = file
        .metadata()
        .map_err(|e| AnalysisError::io(path, e))?
        .len();
    let (body_end, torn) = tail(&file, len).map_err(|e| AnalysisError::io(path, e))?;
    let threads = if body_end < SPLIT_MIN {
        1
    } else {
        threads.clamp(1, 8)
    };
    let mut bounds = vec![0];
    for i in 1..threads as u64 {
        let guess = body_end * i / threads as u64;
        let b = next_line_start(&file, guess, body_end).map_err(|e| AnalysisError::io(path, e))?;
        if b > *bounds.last().unwrap_or(&0) {
            bounds.push(b);
        }
    }
    bounds.push(body_end);
    let needle = format!("\"{NODE_COMPLETED}\"");
    let finder = Finder::new(needle.as_bytes());
    let results: Vec<std::io::Result<Partial>> = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (from, to) = (w[0], w[1]);
                let (file, finder) = (&file, &finder);
                s.spawn(move || scan_range(file, finder, from, to))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("reader thread panicked")))
            })
            .collect()
    });
    let mut total = Partial::default();
    for r in results {
        total.merge(r.map_err(|e| AnalysisError::io(path, e))?);
    }
    let mut nodes: Vec<LogNodeAggregate> = total
        .nodes
        .into_iter()
        .map(|(k, a)| LogNodeAggregate {
            node_id: k.into(),
            count: a.count,
            sum_duration_ms: a.sum,
            avg_duration_ms: if a.count == 0 {
                0.0
            } else {
                a.sum as f64 / a.count as f64
            },
            max_duration_ms: a.max,
            sum_findings: a.findings,
        })
        .collect();
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    Ok(LogAggregate {
        bytes_read: len,
        records: total.records,
        p95_duration_ms: total.hist.quantile(0.95),
        torn_lines: torn,
        invalid_lines: total.invalid,
        nodes,
    })
}

/// Where the complete lines end, and whether a torn (unterminated, unparsable) line follows.
///
/// Costs O(tail): the last newline is found by reading backwards in fixed 64 KiB steps
/// (nothing accumulated), then the tail after it is classified by a streaming parse. However
/// long the torn line, the lines before it are kept.
fn tail(file: &File, len: u64) -> std::io::Result<(u64, u64)> {
    let mut buf = vec![0u8; 64 << 10];
    let mut end = len;
    let mut cut = 0u64;
    while end > 0 {
        let n = (buf.len() as u64).min(end);
        let at = end - n;
        file.read_exact_at(&mut buf[..n as usize], at)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n as usize]) {
            cut = at + i as u64 + 1;
            break;
        }
        end = at;
    }
    Ok(classify_tail(file, cut, len))
}

/// Whether `[cut, len)` (text after the last newline) is blank, one whole JSON object (kept
/// as a line), or torn. A tail not ending in `}` is torn without reading it (the usual case
/// after a crash); otherwise a streaming parse decides. Memory stays bounded either way.
fn classify_tail(file: &File, cut: u64, len: u64) -> (u64, u64) {
    match last_non_blank(file, cut, len) {
        None => (cut, 0),
        Some(b'}') => {
            let range = RangeReader {
                file,
                at: cut,
                end: len,
            };
            let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
                64 << 10,
                range,
            ));
            let whole = IgnoredAny::deserialize(&mut de)
                .and_then(|_| de.end())
                .is_ok();
            if whole { (len, 0) } else { (cut, 1) }
        }
        Some(_) => (cut, 1),
    }
}

/// The last byte of `[from, to)` that is not ASCII whitespace (a read error counts as one, so
/// the tail is treated as torn).
fn last_non_blank(file: &File, from: u64, to: u64) -> Option<u8> {
    let mut buf = [0u8; 4096];
    let mut end = to;
    while end > from {
        let n = (buf.len() as u64).min(end - from);
        let at = end - n;
        if file.read_exact_at(&mut buf[..n as usize], at).is_err() {
            return Some(0);
        }
        if let Some(&b) = buf[..n as usize]
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
        {
            return Some(b);
        }
        end = at;
    }
    None
}

/// Reads `[at, end)` of a file with positioned reads.
struct RangeReader<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl std::io::Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (buf.len() as u64).min(self.end - self.at) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The offset just after the first newline at or after `at` (or `end`).
fn next_line_start(file: &File, mut at: u64, end: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    while at < end {
        let n = (buf.len() as u64).min(end - at) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(end)
}

/// Reads `[from, to)` in chunks; a line crossing a chunk boundary is carried over.
fn scan_range(file: &File, finder: &Finder, from: u64, to: u64) -> std::io::Result<Partial> {
    let mut part = Partial::default();
    let mut buf = vec![0u8; CHUNK];
    let mut carry = 0usize;
    let mut at = from;
    while at < to {
        if carry == buf.len() {
            // A single line longer than the buffer: grow (bounded by the line's size).
            buf.resize(buf.len() * 2, 0);
        }
        let n = ((buf.len() - carry) as u64).min(to - at) as usize;
        file.read_exact_at(&mut buf[carry..carry + n], at)?;
        at += n as u64;
        let filled = carry + n;
        let upto = if at >= to {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None => {
                    carry = filled;
                    continue;
                }
            }
        };
        part.scan(finder, &buf[..upto]);
        buf.copy_within(upto..filled, 0);
        carry = filled - upto;
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let p95 = h.quantile(0.95) as f64;
        assert!((p95 - 9500.0).abs() / 9500.0 < 0.02, "{p95}");
        assert_eq!(h.quantile(0.0001), 1);
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            255,
            256,
            1000,
            u64::MAX / 2,
            u64::MAX,
        ] {
            assert!(Histogram::upper(Histogram::index(v)) >= v);
        }
    }

    #[test]
    fn tails_are_classified_without_reading_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs.jsonl");
        for (text, want) in [
            ("{\"a\":1}\n{\"b\":2}", (15, 0)),
            ("{\"a\":1}\n  \n ", (11, 0)),
            ("{\"a\":1}\n{\"b\":", (8, 1)),
            ("{\"a\":1}\n{\"b\":\"}", (8, 1)),
            ("", (0, 0)),
            ("{\"b\":", (0, 1)),
        ] {
            std::fs::write(&p, text).unwrap();
            let file = File::open(&p).unwrap();
            let got = tail(&file, text.len() as u64).unwrap();
            assert_eq!(got, (want.0.min(text.len() as u64), want.1), "{text:?}");
        }
    }

    #[test]
    fn aggregates_split_ranges_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs.jsonl");
        let mut text = String::new();
        for i in 0..40_000u64 {
            let node = format!("n{}", i % 3);
            if i % 2 == 0 {
                text.push_str(&format!(
                    "{{\"schema_version\":1,\"level\":\"INFO\",\"message\":\"node completed\",\"node_id\":\"{node}\",\"duration_ms\":{},\"findings_count\":2,\"metadata\":{{\"m\":\"node completed\"}}}}\n",
                    i % 100
                ));
            } else {
                text.push_str("{\"schema_version\":1,\"level\":\"INFO\",\"message\":\"node started\",\"node_id\":\"x\"}\n");
            }
        }
        text.push_str("garbage that never mentions the message\n");
        text.push_str("{\"message\":\"node completed\",\"node_id\":\"n0\",\"dur");
        std::fs::write(&p, &text).unwrap();
        let one = aggregate_logs(&p, 1).unwrap();
        assert_eq!(one.invalid_lines, 1, "every invalid line is counted");
        assert_eq!(one.records, 20_000);
        assert_eq!(one.torn_lines, 1);
        assert_eq!(one.nodes.len(), 3);
        let sum: u64 = one.nodes.iter().map(|n| n.sum_findings).sum();
        assert_eq!(sum, 40_000);
        assert_eq!(one.nodes[0].max_duration_ms, 98);
        // Same answer with ranges split across threads.
        let mut parts = Partial::default();
        let file = File::open(&p).unwrap();
        let (end, _) = tail(&file, text.len() as u64).unwrap();
        let mid = next_line_start(&file, end / 2, end).unwrap();
        let f = Finder::new(b"\"node completed\"");
        parts.merge(scan_range(&file, &f, 0, mid).unwrap());
        parts.merge(scan_range(&file, &f, mid, end).unwrap());
        assert_eq!(parts.records, 20_000);
    }
    /// `quickscan` against serde on record lines and on thousands of mutations of them:
    /// whenever the byte scan answers, serde accepts the line and reads the same four fields.
    #[test]
    fn quickscan_agrees_with_serde_on_mutated_lines() {
        let seeds: &[&[u8]] = &[
            br#"{"schema_version":1,"timestamp":"2026-11-23T12:00:00.001Z","level":"INFO","logger":"secflow::engine","message":"node completed","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00000000000000ff","node_id":"n000123","plugin_name":"exec","attempt":1,"duration_ms":431,"findings_count":7,"success":true}"#,
            br#"{"message":"node started","node_id":"x","metadata":{"pid":4242,"executor_job_id":null,"a":[1,-2.5e3,{"b":[]},{}],"s":"q\"\u00e9\n"}}"#,
            br#" { "message" : "node completed" , "node_id" : null , "duration_ms" : null , "findings_count" : 0 } "#,
            "{\"message\":\"node completed\",\"node_id\":\"n\u{e9}\u{4e2d}\",\"duration_ms\":18446744073709551615}".as_bytes(),
            br#"{"message":"node completed","node_id":"n\u0031","duration_ms":1.0,"findings_count":-1}"#,
            br#"{"mess\u0061ge":"node completed","message":"x"}"#,
            br#"{"message":"node completed","x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#,
            br#"{}"#,
        ];
        let alphabet: &[u8] = b"{}[]\",:\\ \t0123456789-+.eEnulltrfaxu\x01\x7f\xc3\xa9\xff";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut answered, mut checked) = (0, 0);
        for seed in seeds {
            for round in 0..4000 {
                let mut line = seed.to_vec();
                for _ in 0..(if round == 0 { 0 } else { 1 + rand(3) }) {
                    let at = rand(line.len() + 1);
                    match rand(3) {
                        0 if at < line.len() => {
                            line.remove(at);
                        }
                        1 if at < line.len() => line[at] = alphabet[rand(alphabet.len())],
                        _ => line.insert(at, alphabet[rand(alphabet.len())]),
                    }
                }
                checked += 1;
                let Some(q) = quickscan::scan(&line) else {
                    continue;
                };
                answered += 1;
                let r = serde_json::from_slice::<Completed>(&line).unwrap_or_else(|e| {
                    panic!(
                        "quickscan accepted what serde rejects ({e}): {}",
                        String::from_utf8_lossy(&line)
                    )
                });
                assert_eq!(
                    q.message,
                    r.message.as_bytes(),
                    "{}",
                    String::from_utf8_lossy(&line)
                );
                assert_eq!(q.node_id, r.node_id.as_deref());
                assert_eq!(q.duration_ms, r.duration_ms);
                assert_eq!(q.findings_count, r.findings_count);
            }
        }
        // The fast path answers the ordinary lines (and many mutations), not only `None`.
        assert!(quickscan::scan(seeds[0]).is_some() && quickscan::scan(seeds[1]).is_some());
        assert!(answered > checked / 10, "{answered} of {checked}");
    }
}
