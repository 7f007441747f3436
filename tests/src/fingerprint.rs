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
                "== {name}\n-- expected:\n{}\n-- actual:\n{}\n",
                shorten(self.0.get(&name)),
                shorten(actual.0.get(&name))
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

fn shorten(v: Option<&String>) -> String {
    match v {
        None => "<missing>".to_string(),
        Some(s) if s.chars().count() > 1500 => {
            let cut: String = s.chars().take(1500).collect();
            format!("{cut}… ({} chars)", s.chars().count())
        }
        Some(s) => s.clone(),
    }
}
