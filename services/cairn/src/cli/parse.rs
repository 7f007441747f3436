//! Parsers for command-line values, so bad input exits 2 before any request is sent.
//! Each error names what is allowed.

use cairn_domain::notify::NotifyOn;
use cairn_domain::{
    BackupId, JobId, JobKind, JobStatus, NotifierName, Role, StorageName, StreamKind, TargetName,
    TokenName,
};
use chrono::{DateTime, Utc};

pub fn server_url(s: &str) -> Result<String, String> {
    let url =
        reqwest::Url::parse(s).map_err(|e| format!("{e}; write it like http://127.0.0.1:7070"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "scheme {:?} is not supported; use http:// or https://",
            url.scheme()
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the server URL takes no query or fragment".into());
    }
    Ok(s.to_string())
}

pub fn target_name(s: &str) -> Result<TargetName, String> {
    TargetName::parse(s).map_err(|e| e.to_string())
}

pub fn storage_name(s: &str) -> Result<StorageName, String> {
    StorageName::parse(s).map_err(|e| e.to_string())
}

pub fn token_name(s: &str) -> Result<TokenName, String> {
    TokenName::parse(s).map_err(|e| e.to_string())
}

pub fn notifier_name(s: &str) -> Result<NotifierName, String> {
    NotifierName::parse(s).map_err(|e| e.to_string())
}

pub fn notify_on(s: &str) -> Result<NotifyOn, String> {
    NotifyOn::parse(s).ok_or_else(|| {
        let allowed: Vec<&str> = NotifyOn::ALL.iter().map(|o| o.as_str()).collect();
        format!("unknown outcome; use one of: {}", allowed.join(", "))
    })
}

pub fn role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        let allowed: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role; use one of: {}", allowed.join(", "))
    })
}

/// A backup id, or `latest` (resolved by the server).
pub fn backup_ref(s: &str) -> Result<String, String> {
    if s == "latest" {
        return Ok(s.to_string());
    }
    BackupId::parse(s)
        .map(|id| id.to_string())
        .map_err(|e| format!("{e}, or `latest`"))
}

pub fn backup_id(s: &str) -> Result<String, String> {
    BackupId::parse(s)
        .map(|id| id.to_string())
        .map_err(|e| e.to_string())
}

pub fn job_id(s: &str) -> Result<JobId, String> {
    JobId::parse(s).map_err(|e| {
        format!(
            "not a job id ({e}); job ids are UUIDs as printed by `cairn backup` or `cairn history`"
        )
    })
}

pub fn job_kind(s: &str) -> Result<JobKind, String> {
    JobKind::parse(s).ok_or_else(|| {
        let allowed: Vec<&str> = JobKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind; use one of: {}", allowed.join(", "))
    })
}

/// A history kind: a job kind, or `config` (configuration changes).
pub fn stream_kind(s: &str) -> Result<StreamKind, String> {
    if s == "config" {
        return Ok(StreamKind::Config);
    }
    job_kind(s)
        .map(Into::into)
        .map_err(|e| format!("{e}, config"))
}

pub fn job_status(s: &str) -> Result<JobStatus, String> {
    JobStatus::parse(s).ok_or_else(|| {
        let allowed: Vec<&str> = JobStatus::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown status; use one of: {}", allowed.join(", "))
    })
}

pub fn since(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; use RFC 3339, e.g. 2026-11-26T00:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_with_the_allowed_ones_named() {
        assert!(job_kind("backup").is_ok());
        assert!(job_kind("dump")
            .unwrap_err()
            .contains("backup, restore, prune"));
        assert!(job_status("retry_due").is_ok());
        assert!(job_status("done").unwrap_err().contains("succeeded"));
        assert!(since("2026-11-26T00:00:00+01:00").is_ok());
        assert!(since("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(backup_ref("latest").is_ok());
        assert!(backup_ref("20261126T030000Z-1a2b3c4d").is_ok());
        assert!(backup_ref("newest").unwrap_err().contains("latest"));
        assert!(server_url("http://127.0.0.1:7070/").is_ok());
        assert!(server_url("127.0.0.1:7070").is_err());
        assert!(server_url("https://h:7070").is_ok());
        assert!(server_url("ftp://h").is_err());
        assert!(role("operate").is_ok());
        assert!(role("root").unwrap_err().contains("read, operate, admin"));
        assert!(token_name("ci-backups").is_ok());
        assert!(token_name("CI").is_err());
    }
}
