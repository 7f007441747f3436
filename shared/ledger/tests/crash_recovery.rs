//! Crash recovery the way sled tests itself: a child process appends as fast as it can and
//! is killed with SIGKILL at a random moment, again and again on the same directory; after
//! each kill the ledger must open cleanly (no `Corrupt`) and hold every event the child
//! reported as acknowledged, with the same sequence and global sequence, and the
//! acknowledgement record beside it must name at least the last acknowledged event.

use cairn_domain::JobId;
use cairn_ledger::Ledger;
use rand::Rng;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills per run; `CAIRN_TORTURE_ITERATIONS` raises it for a longer soak.
const ITERATIONS: usize = 16;

/// One acknowledged event: (job, seq) → global seq.
type Acked = BTreeMap<(JobId, u64), u64>;

#[test]
fn every_acknowledged_event_survives_repeated_kill_9() {
    let iterations = std::env::var("CAIRN_TORTURE_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ITERATIONS);
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("ledger");
    let mut acked = Acked::new();
    let mut busy = Duration::ZERO;
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    for iteration in 0..iterations {
        let kill_after = rng.gen_range(20..400);
        let (lines, elapsed) = run_and_kill(dir, kill_after);
        busy += elapsed;
        for line in &lines {
            let (key, global) = parse(line);
            assert!(
                acked.insert(key, global).is_none(),
                "iteration {iteration}: event {key:?} acknowledged twice"
            );
        }
        check(dir, &acked, iteration);
    }
    let rate = acked.len() as f64 / busy.as_secs_f64();
    eprintln!(
        "crash recovery: {iterations} kills, {} acknowledged events, {rate:.0} acknowledged events/s \
         sustained by the torture child (debug build), {:.1} s in all",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    if iterations == ITERATIONS {
        assert!(started.elapsed() < Duration::from_secs(60), "too slow");
    }
}

/// Runs the torture child until it has acknowledged `kill_after` events, then SIGKILLs it.
/// Returns the acknowledged lines and the time from the first to the last one.
fn run_and_kill(dir: &Path, kill_after: usize) -> (Vec<String>, Duration) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-torture"))
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ledger-torture");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut first = None;
    let mut line = String::new();
    while lines.len() < kill_after {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = child.wait();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("ledger-torture stopped after {} acks: {err}", lines.len());
        }
        first.get_or_insert_with(Instant::now);
        lines.push(line.trim_end().to_string());
    }
    let elapsed = first.map_or(Duration::ZERO, |f| f.elapsed());
    // `Child::kill` sends SIGKILL on unix: no destructor, no flush, no goodbye.
    child.kill().expect("kill -9 the child");
    child.wait().expect("reap the child");
    (lines, elapsed)
}

fn parse(line: &str) -> ((JobId, u64), u64) {
    let mut parts = line.split(' ');
    let mut next = || {
        parts
            .next()
            .unwrap_or_else(|| panic!("short line {line:?}"))
    };
    let job = JobId::parse(next()).unwrap();
    let seq = next().parse().unwrap();
    let global = next().parse().unwrap();
    ((job, seq), global)
}

/// The highest global sequence the acknowledgement record beside `dir` names (its two
/// slots each hold a `global_seq N` line).
fn recorded(dir: &Path) -> u64 {
    let bytes = std::fs::read(dir.with_file_name("ledger.ack")).expect("the record exists");
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| l.strip_prefix("global_seq ")?.parse().ok())
        .max()
        .expect("the record names a global sequence")
}

/// Reopens the ledger (which verifies everything, the record included) and looks for
/// every acknowledged event.
fn check(dir: &Path, acked: &Acked, iteration: usize) {
    let max_acked = acked.values().copied().max().unwrap_or(0);
    let record = recorded(dir);
    assert!(
        record >= max_acked,
        "iteration {iteration}: the record names {record}, before acknowledged event {max_acked}"
    );
    let ledger = Ledger::open(dir)
        .unwrap_or_else(|e| panic!("iteration {iteration}: the ledger did not reopen: {e}"));
    let mut by_job: BTreeMap<JobId, Vec<(u64, u64)>> = BTreeMap::new();
    for ((job, seq), global) in acked {
        by_job.entry(*job).or_default().push((*seq, *global));
    }
    for (job, wanted) in by_job {
        let events = ledger.events(job).unwrap();
        for (seq, global) in wanted {
            let found = events.get(seq as usize - 1).unwrap_or_else(|| {
                panic!("iteration {iteration}: acknowledged event {seq} of job {job} is lost")
            });
            assert_eq!(
                (found.seq, found.global_seq),
                (seq, global),
                "iteration {iteration}: job {job}"
            );
        }
    }
    assert!(
        ledger.last_global_seq() >= max_acked,
        "iteration {iteration}: the global log ends before acknowledged event {max_acked}"
    );
}
