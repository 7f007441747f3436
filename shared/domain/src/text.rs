//! Text from users or tools made safe to print on one log line.
//!
//! Names, URLs and error text reach `tracing` and terminals. A control character in them
//! (a newline, a carriage return, an escape sequence) could forge a log line or rewrite a
//! terminal, so they are shown escaped (`\n`, `\u{1b}`), everything else as it is.

use std::fmt;

/// Displays a string with its control characters escaped.
#[derive(Debug, Clone, Copy)]
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// `s` with its control characters escaped, as an owned string.
pub fn printable(s: &str) -> String {
    Printable(s).to_string()
}

/// Whether `s` holds a control character (NUL, newline, escape, DEL, C1 controls, …).
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        let table = [
            ("orders", "orders"),
            ("café ünïcode", "café ünïcode"),
            ("a\nb", "a\\nb"),
            ("a\r\nINFO forged", "a\\r\\nINFO forged"),
            ("nul\0", "nul\\u{0}"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("del\u{7f}", "del\\u{7f}"),
            ("c1\u{85}", "c1\\u{85}"),
        ];
        for (raw, shown) in table {
            assert_eq!(printable(raw), shown, "{raw:?}");
            assert!(!printable(raw).chars().any(char::is_control), "{raw:?}");
            assert_eq!(has_control(raw), raw != shown, "{raw:?}");
        }
    }
}
