//! Schedule benchmark: prints figures, asserts nothing.
//!
//! 100,000 schedules of mixed kinds (presets and `--at` in 20 zones, crontab expressions of
//! every shape) are parsed, their next fires computed and held in a min-heap, as a firing
//! loop would. Then one tick at a minute when 10,000 of them are due pops the due ones and,
//! for each, decides (`decide`), derives the slot's job id and the target's jitter and
//! computes the next fire: the time from the tick to each decision is the compute part of
//! fire lag (queueing the jobs in the ledger is not included). Peak memory is the process's
//! VmHWM from /proc/self/status.
//!
//! Then the same 100,000 go into a real ledger as targets with policies, and one pass of
//! the scheduler's own firing loop runs at that minute: it queues the 10,000 backups in the
//! durable ledger, and the lag of each is measured (see `ledger_path.rs`).
//!
//! Run: `cargo run --release -p cairn-bench-schedules`

mod ledger_path;

use cairn_domain::schedule::{
    decide, jitter, slot_job_id, CatchUp, Decision, DueCheck, PolicyId, PolicyVersion, Schedule,
    ScheduleFlags,
};
use cairn_domain::{Keep, Policy, TargetName};
use chrono::{DateTime, TimeDelta, Utc};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

const TOTAL: usize = 100_000;
const DUE: usize = 10_000;

const ZONES: [&str; 20] = [
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Africa/Cairo",
    "Asia/Tehran",
];

/// xorshift64*: reproducible mixes without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// One schedule of a random kind: 25% presets, 35% `--at`, 40% crontab.
fn random_schedule(rng: &mut Rng) -> Schedule {
    let zone = ZONES[rng.below(ZONES.len())];
    let roll = rng.below(100);
    let flags = |every, at, days| ScheduleFlags {
        every,
        at,
        days,
        tz: Some(zone),
        cron: None,
    };
    if roll < 25 {
        let preset = ["hourly", "daily", "weekly", "monthly"][rng.below(4)];
        return Schedule::from_flags(flags(Some(preset), None, None)).expect("preset");
    }
    if roll < 60 {
        let at = format!("{:02}:{:02}", rng.below(24), rng.below(60));
        let days = ["mon-fri", "sat,sun", "mon,wed,fri", "tue", "sun"];
        let days = (rng.below(2) == 0).then(|| days[rng.below(days.len())]);
        return Schedule::from_flags(flags(None, Some(&at), days)).expect("at");
    }
    let (m, h) = (rng.below(60), rng.below(24));
    let expr = match rng.below(10) {
        0 => format!("{m} {h} * * *"),
        1 => format!("*/{} * * * *", [5, 10, 15, 20, 30][rng.below(5)]),
        2 => format!(
            "{m} {h} * * {}",
            ["1-5", "mon-fri", "sat,sun", "0", "7"][rng.below(5)]
        ),
        3 => format!("{m} {h} {} * *", 1 + rng.below(31)),
        4 => format!("{m} {h} 1-7 * mon"),
        5 => ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"][rng.below(5)].to_string(),
        6 => format!("{} {m} {h} * * *", rng.below(60)),
        7 => format!("{m} {}-{}/2 * jan,apr,jul,oct *", h / 2, 12 + h / 2),
        8 => "0 0 29 2 *".to_string(),
        _ => format!("{m} */{} * * *", 1 + rng.below(6)),
    };
    Schedule::cron(&expr).expect("cron")
}

/// Schedules whose next fire after `before` is exactly `slot` (2026-06-01T03:00:00Z).
fn due_schedule(i: usize) -> Schedule {
    let (at, zone) = match i % 6 {
        0 => ("03:00", "UTC"),
        1 => ("05:00", "Europe/Berlin"),       // CEST, +2
        2 => ("23:00", "America/New_York"),    // EDT, -4
        3 => ("08:45", "Asia/Kathmandu"),      // +05:45
        4 => ("13:30", "Australia/Lord_Howe"), // LHST, +10:30
        _ => {
            return Schedule::cron(["0 3 * * *", "*/15 * * * *", "0 */3 * * *"][i / 6 % 3])
                .expect("cron")
        }
    };
    let flags = ScheduleFlags {
        at: Some(at),
        tz: Some(zone),
        ..Default::default()
    };
    Schedule::from_flags(flags).expect("at")
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    field("VmHWM:")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let start: DateTime<Utc> = "2026-06-01T02:58:30Z".parse().expect("instant");
    let slot: DateTime<Utc> = "2026-06-01T03:00:00Z".parse().expect("instant");
    let rss_before = peak_rss_kib();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    let t = Instant::now();
    let mut schedules: Vec<Schedule> = (0..DUE).map(due_schedule).collect();
    while schedules.len() < TOTAL {
        let s = random_schedule(&mut rng);
        // The filler must not come due before the measured minute ends.
        if s.next_after(start) >= slot + TimeDelta::minutes(1) {
            schedules.push(s);
        }
    }
    let parse_time = t.elapsed();
    let targets: Vec<TargetName> = (0..TOTAL)
        .map(|i| TargetName::parse(format!("db-{i}")).expect("name"))
        .collect();
    let policies: Vec<PolicyId> = (0..TOTAL).map(|_| PolicyId::new_random()).collect();

    let t = Instant::now();
    let next: Vec<DateTime<Utc>> = schedules.iter().map(|s| s.next_after(start)).collect();
    let next_time = t.elapsed();
    let t = Instant::now();
    let mut heap: BinaryHeap<Reverse<(DateTime<Utc>, usize)>> = next
        .iter()
        .enumerate()
        .map(|(i, n)| Reverse((*n, i)))
        .collect();
    let heap_time = t.elapsed();
    let due_now = next.iter().filter(|n| **n == slot).count();

    let t = Instant::now();
    let mut cron_kind = 0;
    for s in &schedules {
        cron_kind += usize::from(matches!(s, Schedule::Cron { .. }));
        std::hint::black_box(s.fires_after(start).nth(9));
    }
    let ten_time = t.elapsed();

    // One tick of the firing loop at the slot: pop what is due, decide, id, jitter, re-arm.
    let mut lags = Vec::with_capacity(DUE);
    let mut fired = 0;
    let tick = Instant::now();
    while let Some(Reverse((when, i))) = heap.peek().copied() {
        if when > slot {
            break;
        }
        heap.pop();
        let check = DueCheck {
            handled_through: start,
            now: slot,
            catch_up: CatchUp::default(),
            previous_running: false,
            jitter: Duration::ZERO,
        };
        for d in decide(&schedules[i], &check) {
            if let Decision::Fire { slot } = d {
                let id = slot_job_id(policies[i], PolicyVersion::first(), slot);
                // Computed for the cost; the measured minute has no delay.
                let delay = jitter(&targets[i], Duration::from_secs(60));
                std::hint::black_box((id, delay));
                fired += 1;
            }
        }
        heap.push(Reverse((schedules[i].next_after(slot), i)));
        lags.push(tick.elapsed());
    }
    let tick_time = tick.elapsed();

    // Without a heap: every policy checked at the tick.
    let t = Instant::now();
    let mut scan_fired = 0;
    for (i, s) in schedules.iter().enumerate() {
        let check = DueCheck {
            handled_through: next[i] - TimeDelta::seconds(1),
            now: slot,
            catch_up: CatchUp::default(),
            previous_running: false,
            jitter: Duration::ZERO,
        };
        scan_fired += decide(s, &check).len();
    }
    let scan_time = t.elapsed();

    let pct = |p: usize| lags.get((lags.len() * p / 100).min(lags.len().saturating_sub(1)));
    println!("schedules: {TOTAL} ({cron_kind} crontab, {} presets or --at); size_of::<Schedule>() = {} bytes", TOTAL - cron_kind, std::mem::size_of::<Schedule>());
    println!(
        "generate and parse (incl. filler checks): {}",
        ms(parse_time)
    );
    println!(
        "next fire of all {TOTAL}: {} ({:.2} µs each)",
        ms(next_time),
        next_time.as_secs_f64() * 1e6 / TOTAL as f64
    );
    println!("next 10 fires of all {TOTAL}: {}", ms(ten_time));
    println!("build the min-heap of next fires: {}", ms(heap_time));
    println!("due at {slot}: {due_now}; fired in one tick: {fired}");
    println!(
        "tick (pop, decide, job id, jitter, re-arm) for {} due: {}; lag p50 {} p99 {} max {}",
        lags.len(),
        ms(tick_time),
        pct(50).map_or("-".into(), |d| ms(*d)),
        pct(99).map_or("-".into(), |d| ms(*d)),
        lags.last().map_or("-".into(), |d| ms(*d)),
    );
    println!(
        "decide for all {TOTAL} (no heap, {scan_fired} decisions): {}",
        ms(scan_time)
    );
    println!(
        "peak RSS (VmHWM): {} KiB, of which before generating: {} KiB",
        peak_rss_kib(),
        rss_before
    );

    println!("-- the real firing path (ledger, group commit, in-process bus) --");
    let policies: Vec<(TargetName, Policy)> = targets
        .into_iter()
        .zip(schedules)
        .map(|(t, schedule)| {
            let policy = Policy {
                schedule,
                keep: Keep::default(),
                storage: None,
                catch_up: CatchUp::default(),
                jitter: Default::default(),
            };
            (t, policy)
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    runtime.block_on(ledger_path::run(policies, start, slot, || {
        (rss_kib("VmRSS:"), peak_rss_kib())
    }));
}

fn rss_kib(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
