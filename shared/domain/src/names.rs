//! Names of targets, storages and API tokens: one NATS subject token and one storage folder
//! each (tokens follow the same rules, so a name is as safe in a log line as a target's).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty; use lowercase letters, digits, '-' or '_' (at most 63)")]
    Empty,
    #[error("name {0:?} is longer than 63 characters")]
    TooLong(String),
    #[error("name {0:?} may only hold lowercase letters, digits, '-' and '_' and must start with a letter or digit")]
    BadCharacter(String),
}

fn check(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > 63 {
        return Err(NameError::TooLong(s.to_string()));
    }
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok || !s.chars().all(ok_char) {
        return Err(NameError::BadCharacter(s.to_string()));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $t:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $t(String);

        impl $t {
            pub fn parse(s: impl Into<String>) -> Result<Self, NameError> {
                let s = s.into();
                check(&s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $t {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }
        impl From<$t> for String {
            fn from(n: $t) -> String {
                n.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl schemars::JsonSchema for $t {
            fn schema_name() -> String {
                stringify!($t).to_string()
            }
            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                let mut s = schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    ..Default::default()
                };
                s.string().pattern = Some("^[a-z0-9][a-z0-9_-]{0,62}$".to_string());
                s.into()
            }
        }
    };
}

name_type!(
    /// A target's name (`orders-db`).
    TargetName
);
name_type!(
    /// A storage's name (`default`, `offsite`).
    StorageName
);
name_type!(
    /// An API token's name (`admin`, `ci-backups`): what events and audit records name.
    TokenName
);

name_type!(
    /// A notifier's name (`ops-slack`).
    NotifierName
);

impl StorageName {
    /// The storage every target uses unless told otherwise: the data dir's.
    pub fn default_storage() -> Self {
        Self("default".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_subject_token_rules() {
        let table: &[(&str, bool)] = &[
            ("orders-db", true),
            ("a", true),
            ("db_2", true),
            ("9lives", true),
            ("", false),
            ("Orders", false),
            ("orders.db", false),
            ("orders db", false),
            ("-lead", false),
            ("_lead", false),
            ("ü", false),
            ("orders>", false),
            ("orders*", false),
        ];
        for (input, ok) in table {
            assert_eq!(TargetName::parse(*input).is_ok(), *ok, "{input:?}");
        }
        assert!(TargetName::parse("a".repeat(63)).is_ok());
        assert!(matches!(
            TargetName::parse("a".repeat(64)),
            Err(NameError::TooLong(_))
        ));
    }

    #[test]
    fn names_are_checked_when_deserialized() {
        assert!(serde_json::from_str::<TargetName>("\"Bad Name\"").is_err());
        let n: TargetName = serde_json::from_str("\"good\"").unwrap();
        assert_eq!(n.as_str(), "good");
    }
}
