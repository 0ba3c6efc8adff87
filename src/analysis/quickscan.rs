//! A strict one-pass scan of one JSON record line that returns the four top-level fields the
//! log aggregate reads (`message`, `node_id`, `duration_ms`, `findings_count`) as borrowed
//! bytes, without building anything.
//!
//! Contract: [`scan`] never accepts a line that `serde_json` rejects when it deserialises the
//! aggregate's four-field struct, and what it returns equals what serde would return. When a
//! line is outside the simple case (an escape in a key or in `message`/`node_id`, a float or
//! negative number in a counted field, a repeated field, nesting deeper than 64, anything
//! malformed) it answers `None` and the caller asks serde, so rare lines cost a second parse
//! and exactness never depends on this file. The differential test in `logagg.rs` holds it to
//! that contract.

/// The aggregate's four fields of one record line.
#[derive(Debug, PartialEq, Eq)]
pub struct Fields<'a> {
    /// The `message` string's bytes (UTF-8 checked, no escapes).
    pub message: &'a [u8],
    /// The `node_id` string (absent or `null` → `None`).
    pub node_id: Option<&'a str>,
    pub duration_ms: Option<u64>,
    pub findings_count: Option<u64>,
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

const HI: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// Moves to the first `"`, `\` or control byte at or after the cursor (eight bytes at a
    /// time, as serde_json's own scan does).
    #[inline]
    fn skip_plain(&mut self) {
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let v = u64::from_le_bytes(w);
            let quote = v ^ (ONES * u64::from(b'"'));
            let slash = v ^ (ONES * u64::from(b'\\'));
            let hit = (quote.wrapping_sub(ONES) & !quote)
                | (slash.wrapping_sub(ONES) & !slash)
                | (v.wrapping_sub(ONES * 0x20) & !v);
            let hit = hit & HI;
            if hit != 0 {
                self.i += (hit.trailing_zeros() / 8) as usize;
                return;
            }
            self.i += 8;
        }
        while let Some(c) = self.peek() {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return;
            }
            self.i += 1;
        }
    }

    /// A string without escapes, after its opening quote: its bytes and whether any is
    /// non-ASCII. `None` on an escape, a control byte or no closing quote.
    #[inline]
    fn plain_str(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.i;
        self.skip_plain();
        if self.peek()? != b'"' {
            return None;
        }
        let s = &self.b[start..self.i];
        self.i += 1;
        Some((s, !s.is_ascii()))
    }

    /// Any string after its opening quote, as serde_json's `ignore_str` checks it (escapes
    /// well-formed, no control byte; UTF-8 not checked, as there).
    fn skip_str(&mut self) -> Option<()> {
        loop {
            self.skip_plain();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number in JSON's grammar.
    fn skip_number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// One scalar value, or the opening of an array/object (returned).
    fn value_start(&mut self) -> Option<Option<u8>> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.skip_str()?;
            }
            b'-' | b'0'..=b'9' => self.skip_number()?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            open @ (b'[' | b'{') => {
                self.i += 1;
                return Some(Some(open));
            }
            _ => return None,
        }
        Some(None)
    }

    /// Any value, nested up to 64 deep (one bit per level: set = object).
    fn skip_value(&mut self) -> Option<()> {
        let mut stack = 0u64;
        let mut depth = 0u32;
        let mut open = self.value_start()?;
        loop {
            if let Some(c) = open {
                if depth == 64 {
                    return None;
                }
                stack = (stack << 1) | u64::from(c == b'{');
                depth += 1;
                self.ws();
                let close = if c == b'{' { b'}' } else { b']' };
                if self.eat(close).is_none() {
                    if c == b'{' {
                        self.key()?;
                    }
                    self.ws();
                    open = self.value_start()?;
                    continue;
                }
                // An empty container: it ends here.
                stack >>= 1;
                depth -= 1;
            }
            // A value (or an empty container) ended: close containers or go on after a comma.
            loop {
                if depth == 0 {
                    return Some(());
                }
                self.ws();
                let object = stack & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws();
                        if object {
                            self.key()?;
                            self.ws();
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                self.i += 1;
                stack >>= 1;
                depth -= 1;
            }
            open = self.value_start()?;
        }
    }

    /// `"key":` inside a skipped object (cursor at the key's quote).
    fn key(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.skip_str()?;
        self.ws();
        self.eat(b':')
    }

    /// `null` or a non-negative integer that fits u64; `None` (ask serde) otherwise.
    fn count(&mut self) -> Option<Option<u64>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        let start = self.i;
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if let Some(b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            return None;
        }
        let mut v = 0u64;
        for &d in &self.b[start..self.i] {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        Some(Some(v))
    }

    /// A `message`/`node_id` string value without escapes, UTF-8 checked.
    fn text(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let (s, high) = self.plain_str()?;
        if high {
            std::str::from_utf8(s).ok()?;
        }
        Some(s)
    }
}

/// The four fields of one record line, or `None` when serde must decide (see the module doc).
pub fn scan(line: &[u8]) -> Option<Fields<'_>> {
    let mut c = Cursor { b: line, i: 0 };
    let mut message = None;
    let mut node_id: Option<Option<&[u8]>> = None;
    let mut duration_ms = None;
    let mut findings_count = None;
    c.ws();
    c.eat(b'{')?;
    c.ws();
    if c.eat(b'}').is_none() {
        loop {
            c.ws();
            c.eat(b'"')?;
            let (key, high) = c.plain_str()?;
            if high {
                std::str::from_utf8(key).ok()?;
            }
            c.ws();
            c.eat(b':')?;
            c.ws();
            match key {
                b"message" if message.is_none() => message = Some(c.text()?),
                b"node_id" if node_id.is_none() => {
                    node_id = Some(if c.peek()? == b'n' {
                        c.literal(b"null")?;
                        None
                    } else {
                        Some(c.text()?)
                    })
                }
                b"duration_ms" if duration_ms.is_none() => duration_ms = Some(c.count()?),
                b"findings_count" if findings_count.is_none() => findings_count = Some(c.count()?),
                b"message" | b"node_id" | b"duration_ms" | b"findings_count" => return None,
                _ => c.skip_value()?,
            }
            c.ws();
            match c.peek()? {
                b',' => c.i += 1,
                b'}' => {
                    c.i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    let node_id = match node_id.flatten() {
        // Checked as UTF-8 by `text`; checked again here to get a `&str` without `unsafe`.
        Some(s) => Some(std::str::from_utf8(s).ok()?),
        None => None,
    };
    Some(Fields {
        message: message?,
        node_id,
        duration_ms: duration_ms.flatten(),
        findings_count: findings_count.flatten(),
    })
}
