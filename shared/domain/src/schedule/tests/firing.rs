//! Firing decisions, slot job ids and jitter.

use super::super::firing::{
    decide, jitter, slot_job_id, CatchUp, Decision, DueCheck, PolicyId, PolicyVersion,
    MISSED_LISTED,
};
use super::{at, cron, every, utc};
use crate::names::TargetName;
use std::time::Duration;
use uuid::Uuid;

fn fire(s: &str) -> Decision {
    Decision::Fire { slot: utc(s) }
}
fn missed(s: &str) -> Decision {
    Decision::Missed { slot: utc(s) }
}
fn skipped(s: &str) -> Decision {
    Decision::Skipped { slot: utc(s) }
}

struct Row {
    what: &'static str,
    schedule: crate::schedule::Schedule,
    handled_through: &'static str,
    now: &'static str,
    catch_up_minutes: u64,
    previous_running: bool,
    jitter_minutes: u64,
    want: Vec<Decision>,
}

#[test]
fn decisions() {
    let hourly = every("hourly", "UTC");
    let rows = vec![
        Row {
            what: "nothing due yet",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T10:59:59Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![],
        },
        Row {
            what: "on time",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T11:00:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![fire("2026-06-01T11:00:00Z")],
        },
        Row {
            what: "a slot already handled does not fire again (restart)",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T11:00:00Z",
            now: "2026-06-01T11:00:30Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![],
        },
        Row {
            what: "late but within the window: fires once",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T11:59:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![fire("2026-06-01T11:00:00Z")],
        },
        Row {
            what: "exactly the window late still fires",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T11:30:00Z",
            catch_up_minutes: 30,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![fire("2026-06-01T11:00:00Z")],
        },
        Row {
            what: "down three hours: older slots missed, the newest within the window fires",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T08:00:00Z",
            now: "2026-06-01T11:20:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![
                missed("2026-06-01T09:00:00Z"),
                missed("2026-06-01T10:00:00Z"),
                fire("2026-06-01T11:00:00Z"),
            ],
        },
        Row {
            what: "down past the window: every slot missed, nothing fires",
            schedule: every("daily", "UTC"),
            handled_through: "2026-06-01T00:00:00Z",
            now: "2026-06-03T02:00:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![
                missed("2026-06-02T00:00:00Z"),
                missed("2026-06-03T00:00:00Z"),
            ],
        },
        Row {
            what: "a wider window catches up a daily slot",
            schedule: every("daily", "UTC"),
            handled_through: "2026-06-01T00:00:00Z",
            now: "2026-06-03T02:00:00Z",
            catch_up_minutes: 180,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![missed("2026-06-02T00:00:00Z"), fire("2026-06-03T00:00:00Z")],
        },
        Row {
            what: "the previous job still runs: the slot is skipped",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T11:00:01Z",
            catch_up_minutes: 60,
            previous_running: true,
            jitter_minutes: 0,
            want: vec![skipped("2026-06-01T11:00:00Z")],
        },
        Row {
            what: "skipped and missed together",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T09:00:00Z",
            now: "2026-06-01T11:00:01Z",
            catch_up_minutes: 60,
            previous_running: true,
            jitter_minutes: 0,
            want: vec![
                missed("2026-06-01T10:00:00Z"),
                skipped("2026-06-01T11:00:00Z"),
            ],
        },
        Row {
            what: "a running job does not matter when nothing is on time",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T09:00:00Z",
            now: "2026-06-01T11:30:00Z",
            catch_up_minutes: 10,
            previous_running: true,
            jitter_minutes: 0,
            want: vec![
                missed("2026-06-01T10:00:00Z"),
                missed("2026-06-01T11:00:00Z"),
            ],
        },
        Row {
            what: "exactly MISSED_LISTED missed slots are listed one by one",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T00:00:00Z",
            now: "2026-06-01T11:00:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: (1..=10)
                .map(|h| missed(&format!("2026-06-01T{h:02}:00:00Z")))
                .chain([fire("2026-06-01T11:00:00Z")])
                .collect(),
        },
        Row {
            what: "a week down, every 15 minutes: one summary and one catch-up fire",
            schedule: cron("*/15 * * * *"),
            handled_through: "2026-06-01T00:00:00Z",
            now: "2026-06-08T00:05:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![
                Decision::MissedRun {
                    first: utc("2026-06-01T00:15:00Z"),
                    last: utc("2026-06-07T23:45:00Z"),
                    count: 7 * 96 - 1,
                },
                fire("2026-06-08T00:00:00Z"),
            ],
        },
        Row {
            what: "a long outage with nothing on time: the run ends at the newest slot",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T00:00:00Z",
            now: "2026-06-02T00:30:00Z",
            catch_up_minutes: 10,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![Decision::MissedRun {
                first: utc("2026-06-01T01:00:00Z"),
                last: utc("2026-06-02T00:00:00Z"),
                count: 24,
            }],
        },
        Row {
            what: "a wall-clock time in a DST gap fires at the gap's end, on time",
            schedule: at("02:30", None, "Europe/Berlin"),
            handled_through: "2026-03-28T12:00:00Z",
            now: "2026-03-29T01:00:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![fire("2026-03-29T01:00:00Z")],
        },
        Row {
            what: "the repeated 02:30 of fall-back is not a second slot",
            schedule: at("02:30", None, "Europe/Berlin"),
            handled_through: "2026-10-25T00:30:00Z",
            now: "2026-10-25T01:45:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 0,
            want: vec![],
        },
        Row {
            what: "jitter: a slot is not due before its delay has passed",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T12:29:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 90,
            want: vec![],
        },
        Row {
            what: "jitter longer than the window: lateness counts from the delayed time",
            schedule: hourly.clone(),
            handled_through: "2026-06-01T10:00:00Z",
            now: "2026-06-01T12:31:00Z",
            catch_up_minutes: 60,
            previous_running: false,
            jitter_minutes: 90,
            want: vec![fire("2026-06-01T11:00:00Z")],
        },
    ];
    let mut wrong = Vec::new();
    for r in &rows {
        let got = decide(
            &r.schedule,
            &DueCheck {
                handled_through: utc(r.handled_through),
                now: utc(r.now),
                catch_up: CatchUp::new(Duration::from_secs(r.catch_up_minutes * 60)),
                previous_running: r.previous_running,
                jitter: Duration::from_secs(r.jitter_minutes * 60),
            },
        );
        if got != r.want {
            wrong.push(format!(
                "{}:\n   want {:?}\n   got  {:?}",
                r.what, r.want, got
            ));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert_eq!(MISSED_LISTED, 10);
    assert_eq!(CatchUp::default(), CatchUp::new(Duration::from_secs(3600)));
    assert_eq!(serde_json::to_string(&CatchUp::default()).unwrap(), "3600");
    assert_eq!(CatchUp::new(Duration::MAX).window(), chrono::TimeDelta::MAX);
}

#[test]
fn handling_every_decision_leaves_nothing_due() {
    let s = cron("*/15 * * * *");
    let mut check = DueCheck {
        handled_through: utc("2026-06-01T00:00:00Z"),
        now: utc("2026-06-01T05:07:00Z"),
        catch_up: CatchUp::default(),
        previous_running: false,
        jitter: Duration::ZERO,
    };
    let first = decide(&s, &check);
    check.handled_through = first.last().unwrap().slot();
    assert_eq!(check.handled_through, utc("2026-06-01T05:00:00Z"));
    assert_eq!(decide(&s, &check), vec![]);
}

#[test]
fn slot_job_ids_are_deterministic_and_distinct() {
    let policy = PolicyId(Uuid::from_u128(0x0123_4567_89ab_4cde_8f01_2345_6789_abcd));
    let v1 = PolicyVersion::first();
    let slot = utc("2026-06-01T03:00:00Z");
    let id = slot_job_id(policy, v1, slot);
    // Pinned: a change of the derivation would make a restarted scheduler fire again.
    assert_eq!(id.to_string(), slot_job_id(policy, v1, slot).to_string());
    assert_eq!(id.0.get_version_num(), 5);
    // Checked independently with Python: uuid v5 of the same 32 bytes.
    assert_eq!(id.to_string(), "99d4e6e7-2b16-5b9a-bdaa-33d7d0cf701e");
    assert_ne!(id, slot_job_id(policy, v1.next(), slot));
    assert_ne!(id, slot_job_id(policy, v1, utc("2026-06-01T03:00:01Z")));
    assert_ne!(id, slot_job_id(PolicyId(Uuid::from_u128(1)), v1, slot));
}

#[test]
fn jitter_is_stable_bounded_and_spread() {
    let name = |s: &str| TargetName::parse(s).unwrap();
    let max = Duration::from_secs(600);
    assert_eq!(jitter(&name("orders-db"), Duration::ZERO), Duration::ZERO);
    // Pinned: the same target keeps the same offset on every machine and release.
    // Checked independently with Python (SHA-1 of namespace and name, first 8 bytes mod 600001).
    assert_eq!(
        jitter(&name("orders-db"), max),
        Duration::from_millis(531_445)
    );
    let offsets: Vec<Duration> = (0..1000)
        .map(|i| jitter(&name(&format!("db-{i}")), max))
        .collect();
    assert!(offsets.iter().all(|d| *d <= max));
    let distinct: std::collections::HashSet<_> = offsets.iter().collect();
    assert!(distinct.len() > 990, "{}", distinct.len());
    // Spread: each tenth of the range gets a fair share of 1000 targets.
    let mut tenths = [0u32; 10];
    for d in &offsets {
        tenths[((d.as_millis() * 10 / (max.as_millis() + 1)) as usize).min(9)] += 1;
    }
    assert!(
        tenths.iter().all(|&n| (60..=140).contains(&n)),
        "{tenths:?}"
    );
}
