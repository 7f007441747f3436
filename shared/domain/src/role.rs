//! What an API token may do. `read` < `operate` < `admin`; `worker` is the role of the
//! distributed workers' control calls, which only `admin` also covers.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Lists and queries: targets, storages, backups, jobs, history.
    Read,
    /// Also queues backups and restores, and waits for jobs.
    Operate,
    /// Also manages targets, storages and tokens, and reads the audit of denied requests.
    Admin,
    /// A worker's control calls (claim, renew, report) in the distributed topology.
    Worker,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Read, Role::Operate, Role::Admin, Role::Worker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
            Role::Worker => "worker",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a token with this role may make a call that needs `needed`.
    pub fn covers(self, needed: Role) -> bool {
        match needed {
            Role::Read => matches!(self, Role::Read | Role::Operate | Role::Admin),
            Role::Operate => matches!(self, Role::Operate | Role::Admin),
            Role::Admin => self == Role::Admin,
            Role::Worker => matches!(self, Role::Worker | Role::Admin),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Role::{self, *};

    #[test]
    fn roles_cover_what_they_should_and_nothing_more() {
        // (held, needed, allowed)
        let table: &[(Role, Role, bool)] = &[
            (Read, Read, true),
            (Read, Operate, false),
            (Read, Admin, false),
            (Read, Worker, false),
            (Operate, Read, true),
            (Operate, Operate, true),
            (Operate, Admin, false),
            (Operate, Worker, false),
            (Admin, Read, true),
            (Admin, Operate, true),
            (Admin, Admin, true),
            (Admin, Worker, true),
            (Worker, Read, false),
            (Worker, Operate, false),
            (Worker, Admin, false),
            (Worker, Worker, true),
        ];
        for (held, needed, allowed) in table {
            assert_eq!(held.covers(*needed), *allowed, "{held} covering {needed}");
        }
    }

    #[test]
    fn roles_parse_their_own_names_only() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("root"), None);
    }
}
