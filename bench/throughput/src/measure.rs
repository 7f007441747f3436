//! Measuring: wall time, peak resident memory of process trees sampled from /proc, bytes
//! a process wrote to disk, medians.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const EVERY: Duration = Duration::from_millis(25);

/// Peak resident memory (KiB) seen while sampling.
#[derive(Debug, Default, Clone, Copy)]
pub struct Peaks {
    /// The largest RSS of any one `cairn` process (the server, or the CLI).
    pub cairn_kib: u64,
    /// The largest sum of RSS of the other processes of the trees (the tools) at one time.
    pub tools_kib: u64,
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    pub seconds: f64,
    pub peaks: Peaks,
    /// CPU time (user + system) the `cairn up` process used in the run; 0 for bare runs.
    pub cairn_cpu: f64,
}

/// Samples, every 25 ms, the process trees under `roots` (and `server`'s tree, whose root
/// is cairn itself) until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Peaks>,
}

impl Sampler {
    pub fn start(roots: Vec<u32>, server: Option<u32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            let mut roots = roots;
            roots.extend(server);
            loop {
                let done = flag.load(Ordering::Relaxed);
                let procs = processes();
                let mut tools = 0;
                for pid in tree(&procs, &roots) {
                    let Some(p) = procs.get(&pid) else { continue };
                    if p.comm == "cairn" {
                        peaks.cairn_kib = peaks.cairn_kib.max(p.rss_kib);
                    } else if p.comm != "bash" {
                        tools += p.rss_kib;
                    }
                }
                peaks.tools_kib = peaks.tools_kib.max(tools);
                if done {
                    return peaks;
                }
                std::thread::sleep(EVERY);
            }
        });
        Self { stop, thread }
    }

    pub fn stop(self) -> Peaks {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

struct Proc {
    ppid: u32,
    comm: String,
    rss_kib: u64,
}

fn processes() -> HashMap<u32, Proc> {
    let mut all = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return all;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let ppid = rest.nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        // Field 24 (rss, in pages) is the 22nd after the comm.
        let pages: u64 = rest.nth(19).and_then(|s| s.parse().ok()).unwrap_or(0);
        all.insert(
            pid,
            Proc {
                ppid,
                comm,
                rss_kib: pages * page_kib(),
            },
        );
    }
    all
}

fn page_kib() -> u64 {
    4
}

/// `roots` and every descendant of them.
fn tree(procs: &HashMap<u32, Proc>, roots: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = roots.to_vec();
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(
            procs
                .iter()
                .filter(|(_, p)| p.ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    out
}

/// Bytes `pid` has caused to be written to storage so far (`write_bytes` of /proc/PID/io).
pub fn written_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system, all threads) `pid` has used so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    // utime and stime are fields 14 and 15: the 12th and 13th after the comm.
    let mut rest = stat[close + 1..].split_whitespace().skip(11);
    let ticks: u64 = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0)
        + rest.next().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux.
    ticks as f64 / 100.0
}

/// Peak RSS over the life of `pid` (VmHWM), KiB.
pub fn hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The machine's load averages (1, 5, 15 min), as /proc/loadavg says.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
