//! Output capture: a child's stdout/stderr streamed through secflow into a log file, with
//! the values of declared secrets masked as `[REDACTED]`.
//!
//! Guarantees: memory is bounded by one fixed read buffer plus the longest secret, whatever
//! the output's size; the pipe is drained as fast as the disk takes it, so the child never
//! blocks on a full pipe because of secflow; a secret split across two reads is still masked.

use std::io::Write;
use std::sync::Arc;

use tokio::io::AsyncReadExt;

/// What replaces a secret's value.
pub const REDACTED: &[u8] = b"[REDACTED]";

/// The read buffer grows from `FIRST_READ_BUF` to `READ_BUF` as reads fill it: most tools
/// print little, and zeroing 128 KiB per attempt was a fifth of the engine's CPU on a chain
/// of quick nodes.
const READ_BUF: usize = 64 * 1024;
const FIRST_READ_BUF: usize = 4 * 1024;

/// A streaming masker: feed chunks, get masked bytes; a possible prefix of a secret at the
/// end of a chunk is held back until the next chunk decides it.
#[derive(Debug)]
pub struct Masker {
    secrets: Arc<[Vec<u8>]>,
    /// Bytes that start some secret: everything else is copied without a closer look.
    first: [bool; 256],
    carry: Vec<u8>,
    work: Vec<u8>,
}

impl Masker {
    /// Empty secrets are ignored.
    pub fn new(secrets: Arc<[Vec<u8>]>) -> Self {
        let mut first = [false; 256];
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            first[usize::from(s[0])] = true;
        }
        Masker {
            secrets,
            first,
            carry: Vec::new(),
            work: Vec::new(),
        }
    }

    fn active(&self) -> bool {
        self.secrets.iter().any(|s| !s.is_empty())
    }

    /// Masks `chunk` (after whatever was held back) and appends the decided bytes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if !self.active() {
            out.extend_from_slice(chunk);
            return;
        }
        self.work.clear();
        self.work.extend_from_slice(&self.carry);
        self.work.extend_from_slice(chunk);
        self.carry.clear();
        let buf = &self.work;
        let mut i = 0;
        let mut plain_from = 0;
        'scan: while i < buf.len() {
            match buf[i..].iter().position(|&b| self.first[usize::from(b)]) {
                Some(skip) => i += skip,
                None => break,
            }
            let rest = &buf[i..];
            // Longest full match first, so overlapping secrets mask the most.
            let mut matched = 0;
            let mut partial = false;
            for s in self.secrets.iter().filter(|s| !s.is_empty()) {
                if s[0] != rest[0] {
                    continue;
                }
                if rest.len() >= s.len() {
                    if rest.starts_with(s) && s.len() > matched {
                        matched = s.len();
                    }
                } else if s.starts_with(rest) {
                    partial = true;
                }
            }
            if matched > 0 {
                out.extend_from_slice(&buf[plain_from..i]);
                out.extend_from_slice(REDACTED);
                i += matched;
                plain_from = i;
                continue 'scan;
            }
            if partial {
                // The tail from here might still become a secret: decide it with more input.
                out.extend_from_slice(&buf[plain_from..i]);
                self.carry.extend_from_slice(rest);
                return;
            }
            i += 1;
        }
        out.extend_from_slice(&buf[plain_from..]);
    }

    /// Emits what is still held back (the stream ended, so it is not a secret).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.carry);
    }
}

/// Where `--show-output always` sends each line of tool output: the node id and one
/// masked line (without its newline). Set once by the command line; the engine itself
/// never prints.
pub type LiveHook = Box<dyn Fn(&str, &[u8]) + Send + Sync>;

static LIVE: std::sync::OnceLock<LiveHook> = std::sync::OnceLock::new();

/// Subscribes `hook` to every captured line of every attempt from now on (once per
/// process; later calls are ignored).
pub fn set_live_output(hook: LiveHook) {
    let _ = LIVE.set(hook);
}

/// The node id to stream lines for, when a live-output subscriber is set.
pub fn live_node(node_id: &str) -> Option<String> {
    LIVE.get().map(|_| node_id.to_string())
}

/// A line longer than this is handed on in pieces: memory stays bounded whatever a tool
/// prints without a newline.
const LIVE_LINE_MAX: usize = 16 * 1024;

/// Splits masked output into lines for the live subscriber.
struct LiveLines {
    node: String,
    partial: Vec<u8>,
}

impl LiveLines {
    fn feed(&mut self, masked: &[u8]) {
        let Some(hook) = LIVE.get() else {
            return;
        };
        let mut rest = masked;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                hook(&self.node, &rest[..nl]);
            } else {
                self.partial.extend_from_slice(&rest[..nl]);
                hook(&self.node, &self.partial);
                self.partial.clear();
            }
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() >= LIVE_LINE_MAX {
            let tail = self.partial.split_off(LIVE_LINE_MAX);
            hook(&self.node, &self.partial);
            self.partial = tail;
        }
    }

    fn finish(&mut self) {
        if let (Some(hook), false) = (LIVE.get(), self.partial.is_empty()) {
            hook(&self.node, &self.partial);
            self.partial.clear();
        }
    }
}

/// A captured stream's log file, created on the first byte there is to write (SPEC §4: a
/// silent stream leaves no file, and a silent attempt no directory, so a chain of quiet
/// tools costs no inodes for its logs). Readers treat an absent file as empty output.
#[derive(Debug)]
pub struct LogFile {
    path: std::path::PathBuf,
    /// The run's records: the file and its directory are created beneath the run
    /// directory's descriptor (never through a symlink), and a failed write is reported
    /// there. `None` outside a run: created by path.
    records: Option<Arc<crate::store::RecordHealth>>,
    file: Option<std::fs::File>,
}

impl LogFile {
    /// The log at `path`, not created yet.
    pub fn lazy(
        path: std::path::PathBuf,
        records: Option<Arc<crate::store::RecordHealth>>,
    ) -> Self {
        LogFile {
            path,
            records,
            file: None,
        }
    }

    /// Appends `bytes`, creating the file (and its missing directories) first if needed.
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(self.create()?),
        };
        file.write_all(bytes)
    }

    fn create(&self) -> std::io::Result<std::fs::File> {
        let open = || match &self.records {
            Some(r) => r.open_file(&self.path, crate::sys::dirfd::Mode::Truncate),
            None => std::fs::File::create(&self.path),
        };
        match open() {
            // The attempt's directory is made by whichever of its streams writes first
            // (or by the scheduler for a node with outputs).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = self.path.parent() {
                    match &self.records {
                        Some(r) => r.create_dir_all(dir)?,
                        None => std::fs::create_dir_all(dir)?,
                    }
                }
                open()
            }
            r => r,
        }
    }
}

/// Copies `reader` to `log` through a [`Masker`] until end of file. Returns bytes read.
/// A failed write (or creation) is also reported at once to the run's records, naming the
/// file (the run stops: SPEC §10). `live`: the node id whose masked lines also go to the
/// live-output subscriber ([`live_node`]).
pub async fn pump(
    reader: tokio::net::unix::pipe::Receiver,
    mut log: LogFile,
    secrets: Arc<[Vec<u8>]>,
    live: Option<String>,
) -> std::io::Result<u64> {
    let live = live.map(|node| LiveLines {
        node,
        partial: Vec::new(),
    });
    let result = copy_masked(reader, &mut log, secrets, live).await;
    if let (Err(e), Some(records)) = (&result, &log.records) {
        records.fail(format!(
            "capturing output failed: {}: {e}",
            log.path.display()
        ));
    }
    result
}

async fn copy_masked(
    mut reader: tokio::net::unix::pipe::Receiver,
    file: &mut LogFile,
    secrets: Arc<[Vec<u8>]>,
    mut live: Option<LiveLines>,
) -> std::io::Result<u64> {
    let mut masker = Masker::new(secrets);
    let mut buf = vec![0u8; FIRST_READ_BUF];
    let mut out = Vec::new();
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        out.clear();
        masker.feed(&buf[..n], &mut out);
        // Page-cache writes: fast enough to do inline; never holds more than one chunk.
        file.write_all(&out)?;
        if let Some(live) = &mut live {
            live.feed(&out);
        }
        if n == buf.len() && buf.len() < READ_BUF {
            buf.resize(buf.len() * 4, 0);
        }
    }
    out.clear();
    masker.finish(&mut out);
    file.write_all(&out)?;
    if let Some(live) = &mut live {
        live.feed(&out);
        live.finish();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(secrets: &[&str], chunks: &[&str]) -> String {
        let secrets: Arc<[Vec<u8>]> = secrets.iter().map(|s| s.as_bytes().to_vec()).collect();
        let mut m = Masker::new(secrets);
        let mut out = Vec::new();
        for c in chunks {
            m.feed(c.as_bytes(), &mut out);
        }
        m.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_whole_and_split_secrets() {
        assert_eq!(mask(&["s3cr3t"], &["a s3cr3t b"]), "a [REDACTED] b");
        assert_eq!(mask(&["s3cr3t"], &["a s3c", "r3t b"]), "a [REDACTED] b");
        assert_eq!(
            mask(&["s3cr3t"], &["a s", "3", "c", "r3", "t"]),
            "a [REDACTED]"
        );
        assert_eq!(mask(&["s3cr3t"], &["s3cr3", "x"]), "s3cr3x");
        assert_eq!(mask(&["s3cr3t"], &["end s3cr"]), "end s3cr");
        assert_eq!(
            mask(&["ab", "abc"], &["xabcx ab"]),
            "x[REDACTED]x [REDACTED]"
        );
        assert_eq!(mask(&["aab"], &["aaab"]), "a[REDACTED]");
        assert_eq!(mask(&[], &["plain"]), "plain");
        assert_eq!(mask(&[""], &["plain"]), "plain");
    }

    #[test]
    fn every_split_point_is_masked() {
        let text = "before TOKEN-123 middle TOKEN-123 after";
        for cut in 0..text.len() {
            let out = mask(&["TOKEN-123"], &[&text[..cut], &text[cut..]]);
            assert_eq!(
                out, "before [REDACTED] middle [REDACTED] after",
                "cut {cut}"
            );
        }
    }
}
