//! A fingerprint: named sections of text describing a database's schema and contents,
//! compared before a backup and after a restore.

use std::collections::BTreeMap;
use std::fmt;

/// Section name → its content (query output, hashes). Two databases with equal
/// fingerprints hold the same objects and the same rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(pub BTreeMap<String, String>);

impl Fingerprint {
    pub fn insert(&mut self, section: impl Into<String>, content: impl Into<String>) {
        self.0.insert(section.into(), content.into());
    }

    /// The names of the sections that differ (present in one only, or with other content).
    pub fn diff(&self, other: &Fingerprint) -> Vec<String> {
        let mut names: Vec<&String> = self.0.keys().chain(other.0.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|n| self.0.get(*n) != other.0.get(*n))
            .cloned()
            .collect()
    }

    /// Panics with the differing sections (both sides, shortened) unless equal.
    #[track_caller]
    pub fn assert_same(&self, actual: &Fingerprint, what: &str) {
        let diff = self.diff(actual);
        if diff.is_empty() {
            return;
        }
        let mut text = format!("{what}: fingerprints differ in {} section(s)\n", diff.len());
        for name in diff {
            text.push_str(&format!(
                "== {name}\n{}",
                line_diff(self.0.get(&name), actual.0.get(&name))
            ));
        }
        panic!("{text}");
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            writeln!(f, "== {k}\n{v}")?;
        }
        Ok(())
    }
}

/// The lines only one side has (`-` expected, `+` actual), at most 40 of each.
fn line_diff(expected: Option<&String>, actual: Option<&String>) -> String {
    let (Some(e), Some(a)) = (expected, actual) else {
        return format!(
            "-- expected: {}\n-- actual: {}\n",
            if expected.is_some() {
                "present"
            } else {
                "<missing>"
            },
            if actual.is_some() {
                "present"
            } else {
                "<missing>"
            }
        );
    };
    let e_lines: Vec<&str> = e.lines().collect();
    let a_lines: Vec<&str> = a.lines().collect();
    let mut out = String::new();
    for (sign, from, other) in [("-", &e_lines, &a_lines), ("+", &a_lines, &e_lines)] {
        let only: Vec<&&str> = from.iter().filter(|l| !other.contains(l)).collect();
        for line in only.iter().take(40) {
            out.push_str(&format!("{sign} {}\n", shorten(line)));
        }
        if only.len() > 40 {
            out.push_str(&format!("{sign} … and {} more\n", only.len() - 40));
        }
    }
    if out.is_empty() {
        out.push_str("(same lines, different order or count)\n");
    }
    out
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 400 {
        let cut: String = s.chars().take(400).collect();
        format!("{cut}… ({} chars)", s.chars().count())
    } else {
        s.to_string()
    }
}
