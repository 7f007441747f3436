//! Reading `/proc`: process groups, parents, command lines and environments, so tests can
//! wait for a killed group to vanish and look for secrets in other processes.

use std::path::PathBuf;

/// The few fields of `/proc/PID/stat` the suites need.
#[derive(Debug, Clone)]
pub struct Stat {
    pub pid: u32,
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
}

/// Every numeric entry of `/proc`.
pub fn all_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect()
}

/// `/proc/PID/stat`, or `None` when the process is gone.
pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm is in parentheses and may itself hold spaces or parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    Some(Stat {
        pid,
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        pgrp: rest.get(2)?.parse().ok()?,
    })
}

/// Raw `/proc/PID/<file>` bytes (`cmdline`, `environ`), empty when unreadable.
pub fn read(pid: u32, file: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(format!("/proc/{pid}/{file}"))).unwrap_or_default()
}

/// Every live process below `root` (children, grandchildren, …), not `root` itself.
pub fn descendants(root: u32) -> Vec<Stat> {
    let stats: Vec<Stat> = all_pids().into_iter().filter_map(stat).collect();
    let mut found: Vec<Stat> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for s in stats.iter().filter(|s| s.ppid == parent) {
            if !found.iter().any(|f| f.pid == s.pid) {
                frontier.push(s.pid);
                found.push(s.clone());
            }
        }
    }
    found
}
