//! How results are printed: aligned tables and key/value blocks for people, JSON for
//! scripts. All of it goes to stdout; messages and progress go to stderr.

use super::error::CliError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::io::Write;

/// Pretty JSON of one value (object or flat array) on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot encode JSON: {e}")))?;
    line(&text)
}

/// One compact JSON object per line, for streamed messages (`--wait --json`).
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string(value)
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot encode JSON: {e}")))?;
    line(&text)
}

/// One line of text on stdout, flushed (progress lines must not wait in a buffer).
pub fn line(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// A table with a header row and left-aligned columns.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) -> Result<(), CliError> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        let mut text = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut cells = Vec::with_capacity(row.len());
            for (i, cell) in row.iter().enumerate() {
                let pad = widths.get(i).copied().unwrap_or(0);
                cells.push(format!("{cell:<pad$}"));
            }
            text.push_str(cells.join("  ").trim_end());
            text.push('\n');
        }
        line(text.trim_end_matches('\n'))
    }
}

/// `key: value` lines with the values aligned, for one object (`target show`).
pub fn fields(pairs: &[(&str, String)]) -> Result<(), CliError> {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let text: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{:<width$} {v}", format!("{k}:")))
        .collect();
    line(&text.join("\n"))
}

/// Sizes for people: `1.20 GiB`. JSON output keeps plain byte counts.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// RFC 3339 in UTC to the second: `2026-11-26T03:00:00Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Durations for people: `0.4s`, `12.3s`, `4m05s`, `1h02m`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 60.0 {
        return format!("{s:.1}s");
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// Cuts text to `max` characters for a table cell, marking the cut with `…`.
pub fn shorten(text: &str, max: usize) -> String {
    let one_line = text.replace('\n', " ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        let table = [
            (0.0, "0.0s"),
            (12.34, "12.3s"),
            (59.9, "59.9s"),
            (245.0, "4m05s"),
            (3720.0, "1h02m"),
            (-1.0, "0.0s"),
        ];
        for (input, want) in table {
            assert_eq!(duration(input), want, "{input}");
        }
    }

    #[test]
    fn shorten_marks_the_cut() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("a\nb", 5), "a b");
    }
}
