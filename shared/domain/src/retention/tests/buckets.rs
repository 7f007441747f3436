//! Grandfather-father-son buckets: hours, days, ISO weeks, months and years, on the wall
//! clock of the schedule's zone.

use super::{check, keep, n, Row};
use crate::retention::{BackupOutcome, BackupOutcome::Succeeded, Keep};

#[test]
fn grandfather_father_son() {
    let six_hourly: Vec<(&'static str, BackupOutcome)> = [
        "2026-06-01T00:00:00Z",
        "2026-06-01T06:00:00Z",
        "2026-06-01T12:00:00Z",
        "2026-06-01T18:00:00Z",
        "2026-06-02T00:00:00Z",
        "2026-06-02T06:00:00Z",
        "2026-06-02T12:00:00Z",
        "2026-06-02T18:00:00Z",
        "2026-06-03T00:00:00Z",
        "2026-06-03T06:00:00Z",
        "2026-06-03T12:00:00Z",
        "2026-06-03T18:00:00Z",
    ]
    .into_iter()
    .map(|t| (t, Succeeded))
    .collect();
    check(vec![
        Row {
            what: "daily 2 over three days of six-hourly backups",
            keep: Keep {
                daily: n(2),
                ..keep(1)
            },
            zone: "UTC",
            backups: six_hourly.clone(),
            want: vec![
                ("2026-06-03T18:00:00Z", "last+daily"),
                ("2026-06-03T12:00:00Z", "remove"),
                ("2026-06-03T06:00:00Z", "remove"),
                ("2026-06-03T00:00:00Z", "remove"),
                ("2026-06-02T18:00:00Z", "daily"),
                ("2026-06-02T12:00:00Z", "remove"),
                ("2026-06-02T06:00:00Z", "remove"),
                ("2026-06-02T00:00:00Z", "remove"),
                ("2026-06-01T18:00:00Z", "remove"),
                ("2026-06-01T12:00:00Z", "remove"),
                ("2026-06-01T06:00:00Z", "remove"),
                ("2026-06-01T00:00:00Z", "remove"),
            ],
        },
        Row {
            what: "hourly 3 and last 2 overlap on the newest",
            keep: Keep {
                hourly: n(3),
                ..keep(2)
            },
            zone: "UTC",
            backups: six_hourly[8..].to_vec(),
            want: vec![
                ("2026-06-03T18:00:00Z", "last+hourly"),
                ("2026-06-03T12:00:00Z", "last+hourly"),
                ("2026-06-03T06:00:00Z", "hourly"),
                ("2026-06-03T00:00:00Z", "remove"),
            ],
        },
        Row {
            what: "a rule with counts left keeps the oldest backup too (restic)",
            keep: Keep {
                daily: n(7),
                ..keep(1)
            },
            zone: "UTC",
            backups: vec![
                ("2026-06-01T01:00:00Z", Succeeded),
                ("2026-06-01T02:00:00Z", Succeeded),
                ("2026-06-01T03:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-06-01T03:00:00Z", "last+daily"),
                ("2026-06-01T02:00:00Z", "remove"),
                ("2026-06-01T01:00:00Z", "daily"),
            ],
        },
        Row {
            what: "weekly buckets are ISO weeks: Sunday and the next Monday differ",
            keep: Keep {
                weekly: n(2),
                ..keep(1)
            },
            zone: "UTC",
            backups: vec![
                ("2026-06-01T10:00:00Z", Succeeded), // Mon, week 23
                ("2026-06-06T10:00:00Z", Succeeded), // Sat, week 23
                ("2026-06-07T10:00:00Z", Succeeded), // Sun, week 23
                ("2026-06-08T10:00:00Z", Succeeded), // Mon, week 24
            ],
            want: vec![
                ("2026-06-08T10:00:00Z", "last+weekly"),
                ("2026-06-07T10:00:00Z", "weekly"),
                ("2026-06-06T10:00:00Z", "remove"),
                ("2026-06-01T10:00:00Z", "remove"),
            ],
        },
        Row {
            what: "ISO week 53 of 2026 spans the new year",
            keep: Keep {
                weekly: n(3),
                ..keep(1)
            },
            zone: "UTC",
            backups: vec![
                ("2026-12-27T10:00:00Z", Succeeded), // Sun, 2026-W52
                ("2026-12-31T10:00:00Z", Succeeded), // Thu, 2026-W53
                ("2027-01-03T10:00:00Z", Succeeded), // Sun, 2026-W53
                ("2027-01-04T10:00:00Z", Succeeded), // Mon, 2027-W01
            ],
            want: vec![
                ("2027-01-04T10:00:00Z", "last+weekly"),
                ("2027-01-03T10:00:00Z", "weekly"),
                ("2026-12-31T10:00:00Z", "remove"),
                ("2026-12-27T10:00:00Z", "weekly"),
            ],
        },
        Row {
            what: "monthly 3 and yearly 2",
            keep: Keep {
                monthly: n(3),
                yearly: n(2),
                ..keep(1)
            },
            zone: "UTC",
            backups: vec![
                ("2024-06-01T00:00:00Z", Succeeded),
                ("2025-11-01T00:00:00Z", Succeeded),
                ("2025-12-01T00:00:00Z", Succeeded),
                ("2026-01-01T00:00:00Z", Succeeded),
                ("2026-02-01T00:00:00Z", Succeeded),
                ("2026-03-01T00:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-03-01T00:00:00Z", "last+monthly+yearly"),
                ("2026-02-01T00:00:00Z", "monthly"),
                ("2026-01-01T00:00:00Z", "monthly"),
                ("2025-12-01T00:00:00Z", "yearly"),
                ("2025-11-01T00:00:00Z", "remove"),
                ("2024-06-01T00:00:00Z", "remove"),
            ],
        },
        Row {
            what: "every rule at once names every reason",
            keep: Keep {
                hourly: n(1),
                daily: n(1),
                weekly: n(1),
                monthly: n(1),
                yearly: n(1),
                ..keep(1)
            },
            zone: "UTC",
            backups: vec![
                ("2026-06-01T00:00:00Z", Succeeded),
                ("2026-06-02T00:00:00Z", Succeeded),
            ],
            want: vec![
                (
                    "2026-06-02T00:00:00Z",
                    "last+hourly+daily+weekly+monthly+yearly",
                ),
                ("2026-06-01T00:00:00Z", "remove"),
            ],
        },
    ]);
}

#[test]
fn buckets_follow_the_schedule_zone() {
    // 21:30Z and 22:30Z on 1 June are the same UTC day but 23:30 and 00:30 in Berlin (CEST).
    let backups = vec![
        ("2026-06-01T10:00:00Z", Succeeded),
        ("2026-06-01T21:30:00Z", Succeeded),
        ("2026-06-01T22:30:00Z", Succeeded),
    ];
    check(vec![
        Row {
            what: "daily in UTC: one day, its newest and (oldest rule) its oldest",
            keep: Keep {
                daily: n(2),
                ..keep(1)
            },
            zone: "UTC",
            backups: backups.clone(),
            want: vec![
                ("2026-06-01T22:30:00Z", "last+daily"),
                ("2026-06-01T21:30:00Z", "remove"),
                ("2026-06-01T10:00:00Z", "daily"),
            ],
        },
        Row {
            what: "daily in Europe/Berlin: two days, the newest of each",
            keep: Keep {
                daily: n(2),
                ..keep(1)
            },
            zone: "Europe/Berlin",
            backups,
            want: vec![
                ("2026-06-01T22:30:00Z", "last+daily"),
                ("2026-06-01T21:30:00Z", "daily"),
                ("2026-06-01T10:00:00Z", "remove"),
            ],
        },
        Row {
            what: "hourly in Berlin on fall-back: both 02:xx hours share one local bucket",
            keep: Keep {
                hourly: n(2),
                ..keep(1)
            },
            zone: "Europe/Berlin",
            backups: vec![
                ("2026-10-24T23:10:00Z", Succeeded), // 01:10 CEST
                ("2026-10-25T00:10:00Z", Succeeded), // 02:10 CEST
                ("2026-10-25T01:10:00Z", Succeeded), // 02:10 CET
            ],
            want: vec![
                ("2026-10-25T01:10:00Z", "last+hourly"),
                ("2026-10-25T00:10:00Z", "remove"),
                ("2026-10-24T23:10:00Z", "hourly"),
            ],
        },
        Row {
            what: "monthly in Asia/Kathmandu: 18:15Z on the 31st is already the 1st",
            keep: Keep {
                monthly: n(2),
                ..keep(1)
            },
            zone: "Asia/Kathmandu",
            backups: vec![
                ("2026-05-31T18:00:00Z", Succeeded), // 23:45 on 31 May
                ("2026-05-31T18:15:00Z", Succeeded), // 00:00 on 1 June
                ("2026-05-31T19:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-05-31T19:00:00Z", "last+monthly"),
                ("2026-05-31T18:15:00Z", "remove"),
                ("2026-05-31T18:00:00Z", "monthly"),
            ],
        },
    ]);
}
