//! Human formatting shared by the console, `runs` and the reports: durations (`812 ms`,
//! `1.2 s`, `3m 04s`), byte sizes (`46.0 MiB`), the `[  1.23s]` elapsed prefix, RFC 3339
//! times shortened for tables, and a tiny ANSI colour helper.
//!
//! Guarantees: pure functions (colour decisions aside, which read `NO_COLOR` once), never
//! panic, and produce the same text for the same input so tests can pin it.

use std::io::IsTerminal;
use std::time::Duration;

/// A duration in milliseconds as people read it: `812 ms`, `1.2 s`, `3m 04s`, `2h 05m`,
/// `3d 04h`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        // One decimal, rounded half up, never showing `60.0 s`.
        let tenths = ms.saturating_add(50) / 100;
        if tenths >= 600 {
            "1m 00s".to_string()
        } else {
            format!("{}.{} s", tenths / 10, tenths % 10)
        }
    } else if ms < 3_600_000 {
        let secs = ms.saturating_add(500) / 1000;
        if secs >= 3600 {
            "1h 00m".to_string()
        } else {
            format!("{}m {:02}s", secs / 60, secs % 60)
        }
    } else if ms < 86_400_000 - 30_000 {
        let mins = ms.saturating_add(30_000) / 60_000;
        format!("{}h {:02}m", mins / 60, mins % 60)
    } else {
        let hours = ms.saturating_add(1_800_000) / 3_600_000;
        format!("{}d {:02}h", hours / 24, hours % 24)
    }
}

/// [`duration_ms`] of a [`Duration`].
pub fn duration(d: Duration) -> String {
    duration_ms(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A byte count in binary units with one decimal: `512 B`, `1.5 KiB`, `46.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The elapsed-time prefix of a console line: `[  1.23s]`, `[ 75.00s]`, `[1234.5s]`.
pub fn elapsed_prefix(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1000.0 {
        format!("[{secs:6.2}s]")
    } else {
        format!("[{secs:6.0}s]")
    }
}

/// An RFC 3339 time from a record, shortened for a table: `2026-11-23 12:00:00`.
/// Text that is not of that shape is returned unchanged.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(0..10), rfc3339.get(11..19)) {
        (Some(date), Some(time)) if rfc3339.as_bytes().get(10) == Some(&b'T') => {
            format!("{date} {time}")
        }
        _ => rfc3339.to_string(),
    }
}

/// Whether to colour output written to a stream: only on a terminal, and never when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn colour_enabled(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// [`colour_enabled`] for stderr.
pub fn stderr_colour() -> bool {
    colour_enabled(std::io::stderr().is_terminal())
}

/// [`colour_enabled`] for stdout.
pub fn stdout_colour() -> bool {
    colour_enabled(std::io::stdout().is_terminal())
}

/// An ANSI colour or style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    Bold,
    Dim,
}

impl Colour {
    fn code(self) -> &'static str {
        match self {
            Colour::Red => "31",
            Colour::Green => "32",
            Colour::Yellow => "33",
            Colour::Blue => "34",
            Colour::Magenta => "35",
            Colour::Cyan => "36",
            Colour::Bold => "1",
            Colour::Dim => "2",
        }
    }
}

/// Paints text with ANSI escapes when enabled, and returns it unchanged otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paint {
    pub enabled: bool,
}

impl Paint {
    pub fn new(enabled: bool) -> Self {
        Paint { enabled }
    }

    pub fn paint(self, colour: Colour, text: &str) -> String {
        if self.enabled {
            format!("\x1b[{}m{text}\x1b[0m", colour.code())
        } else {
            text.to_string()
        }
    }

    /// A status word in its colour (`succeeded` green, `failed` red, …).
    pub fn status(self, status: &str) -> String {
        match status_colour(status) {
            Some(c) => self.paint(c, status),
            None => status.to_string(),
        }
    }
}

/// The colour of a node or run status word (`died` and `corrupt` included).
pub fn status_colour(status: &str) -> Option<Colour> {
    match status {
        "succeeded" => Some(Colour::Green),
        "cached" => Some(Colour::Cyan),
        "failed" | "timed_out" | "died" | "corrupt" => Some(Colour::Red),
        "cancelled" | "skipped" => Some(Colour::Yellow),
        "running" | "pending" => Some(Colour::Blue),
        _ => None,
    }
}

/// The tables secflow prints for people (a run's nodes, `runs list`): condensed UTF-8 with
/// round corners, styled only when `paint` is on.
pub fn table(paint: Paint) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .apply_modifier(comfy_table::modifiers::UTF8_ROUND_CORNERS)
        .force_no_tty();
    if paint.enabled {
        table.enforce_styling();
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration_ms(0), "0 ms");
        assert_eq!(duration_ms(812), "812 ms");
        assert_eq!(duration_ms(999), "999 ms");
        assert_eq!(duration_ms(1_000), "1.0 s");
        assert_eq!(duration_ms(1_234), "1.2 s");
        assert_eq!(duration_ms(59_960), "1m 00s");
        assert_eq!(duration_ms(184_000), "3m 04s");
        assert_eq!(duration_ms(3_599_700), "1h 00m");
        assert_eq!(duration_ms(7_500_000), "2h 05m");
        assert_eq!(duration_ms(86_399_000), "1d 00h");
        assert_eq!(duration_ms(2 * 86_400_000 + 4 * 3_600_000), "2d 04h");
        // An edited record's u64::MAX saturates instead of overflowing.
        assert_eq!(duration_ms(u64::MAX), "213503982334d 14h");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(48_234_496), "46.0 MiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn elapsed_prefix_is_fixed_width() {
        assert_eq!(elapsed_prefix(Duration::from_millis(1230)), "[  1.23s]");
        assert_eq!(elapsed_prefix(Duration::from_secs(75)), "[ 75.00s]");
        assert_eq!(elapsed_prefix(Duration::from_secs(1234)), "[  1234s]");
    }

    #[test]
    fn short_time_drops_zone_and_fraction() {
        assert_eq!(
            short_time("2026-11-23T12:00:00.123Z"),
            "2026-11-23 12:00:00"
        );
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn paint_is_identity_when_disabled() {
        assert_eq!(Paint::new(false).status("failed"), "failed");
        assert_eq!(Paint::new(true).status("failed"), "\x1b[31mfailed\x1b[0m");
    }
}
