//! Retention tables: each row lists backups (any order) and the verdicts expected, newest
//! first. Every row is also checked with failed and incomplete backups mixed in, which must
//! change nothing.

use super::*;
use crate::ids::JobId;
use uuid::Uuid;
use BackupOutcome::{Failed, Incomplete, Succeeded};

mod buckets;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn backup(i: usize, at: &str, outcome: BackupOutcome) -> BackupInfo {
    let at = utc(at);
    BackupInfo {
        id: BackupId::new(at, JobId(Uuid::from_u128(0x1000 + i as u128))),
        at,
        outcome,
    }
}

fn n(v: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(v)
}

fn keep(last: u32) -> Keep {
    Keep::last(NonZeroU32::new(last).unwrap())
}

struct Row {
    what: &'static str,
    keep: Keep,
    zone: &'static str,
    backups: Vec<(&'static str, BackupOutcome)>,
    /// (time, "remove" or the reasons joined by '+'), newest first.
    want: Vec<(&'static str, &'static str)>,
}

fn show(v: &Verdict) -> String {
    match v {
        Verdict::Remove => "remove".into(),
        Verdict::Keep(reasons) => reasons
            .iter()
            .map(|r| format!("{r:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join("+"),
    }
}

fn run(keep: &Keep, backups: &[BackupInfo], zone: Zone) -> Vec<(String, String)> {
    let at: std::collections::HashMap<_, _> =
        backups.iter().map(|b| (b.id.clone(), b.at)).collect();
    apply(keep, backups, zone)
        .into_iter()
        .map(|(id, v)| {
            let t = at[&id].to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            (t, show(&v))
        })
        .collect()
}

fn check(rows: Vec<Row>) {
    let mut wrong = Vec::new();
    for r in &rows {
        let zone = Zone::parse(r.zone).unwrap();
        let backups: Vec<BackupInfo> = r
            .backups
            .iter()
            .enumerate()
            .map(|(i, (at, o))| backup(i, at, *o))
            .collect();
        let want: Vec<(String, String)> = r
            .want
            .iter()
            .map(|(t, v)| {
                (
                    utc(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    v.to_string(),
                )
            })
            .collect();
        let got = run(&r.keep, &backups, zone);
        if got != want {
            wrong.push(format!("{}:\n   want {want:?}\n   got  {got:?}", r.what));
            continue;
        }
        // Failures and partial uploads around and between the backups change nothing.
        let mut noisy = backups.clone();
        for (i, b) in backups.iter().enumerate() {
            for (j, outcome) in [Failed, Incomplete, Failed].into_iter().enumerate() {
                let at = b.at + chrono::TimeDelta::minutes(j as i64 + 1);
                noisy.push(BackupInfo {
                    id: BackupId::new(at, JobId(Uuid::from_u128(0x9000 + (i * 3 + j) as u128))),
                    at,
                    outcome,
                });
            }
        }
        noisy.reverse();
        let noisy_got = run(&r.keep, &noisy, zone);
        if noisy_got != want {
            wrong.push(format!(
                "{} (with failures mixed in):\n   want {want:?}\n   got  {noisy_got:?}",
                r.what
            ));
        }
        // The newest successful backup is always kept.
        if let Some((_, v)) = got.first() {
            assert_ne!(v, "remove", "{}", r.what);
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

#[test]
fn keep_last() {
    check(vec![
        Row {
            what: "five backups, keep 3: the newest three stay",
            keep: keep(3),
            zone: "UTC",
            backups: vec![
                ("2026-06-01T03:00:00Z", Succeeded),
                ("2026-06-02T03:00:00Z", Succeeded),
                ("2026-06-03T03:00:00Z", Succeeded),
                ("2026-06-04T03:00:00Z", Succeeded),
                ("2026-06-05T03:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-06-05T03:00:00Z", "last"),
                ("2026-06-04T03:00:00Z", "last"),
                ("2026-06-03T03:00:00Z", "last"),
                ("2026-06-02T03:00:00Z", "remove"),
                ("2026-06-01T03:00:00Z", "remove"),
            ],
        },
        Row {
            what: "fewer backups than keep: all stay",
            keep: Keep::default(),
            zone: "UTC",
            backups: vec![
                ("2026-06-01T03:00:00Z", Succeeded),
                ("2026-06-02T03:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-06-02T03:00:00Z", "last"),
                ("2026-06-01T03:00:00Z", "last"),
            ],
        },
        Row {
            what: "keep 1: only the newest",
            keep: keep(1),
            zone: "UTC",
            backups: vec![
                ("2026-06-02T03:00:00Z", Succeeded),
                ("2026-06-01T03:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-06-02T03:00:00Z", "last"),
                ("2026-06-01T03:00:00Z", "remove"),
            ],
        },
        Row {
            what: "a run of failures after the last success removes nothing",
            keep: keep(3),
            zone: "UTC",
            backups: vec![
                ("2026-06-01T03:00:00Z", Succeeded),
                ("2026-06-02T03:00:00Z", Succeeded),
                ("2026-06-03T03:00:00Z", Succeeded),
                ("2026-06-04T03:00:00Z", Failed),
                ("2026-06-05T03:00:00Z", Failed),
                ("2026-06-06T03:00:00Z", Incomplete),
                ("2026-06-07T03:00:00Z", Failed),
            ],
            want: vec![
                ("2026-06-03T03:00:00Z", "last"),
                ("2026-06-02T03:00:00Z", "last"),
                ("2026-06-01T03:00:00Z", "last"),
            ],
        },
        Row {
            what: "failures take no place among the newest N",
            keep: keep(2),
            zone: "UTC",
            backups: vec![
                ("2026-06-01T03:00:00Z", Succeeded),
                ("2026-06-02T03:00:00Z", Failed),
                ("2026-06-03T03:00:00Z", Succeeded),
                ("2026-06-04T03:00:00Z", Incomplete),
                ("2026-06-05T03:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-06-05T03:00:00Z", "last"),
                ("2026-06-03T03:00:00Z", "last"),
                ("2026-06-01T03:00:00Z", "remove"),
            ],
        },
        Row {
            what: "only failures: nothing to decide",
            keep: keep(1),
            zone: "UTC",
            backups: vec![
                ("2026-06-01T03:00:00Z", Failed),
                ("2026-06-02T03:00:00Z", Incomplete),
            ],
            want: vec![],
        },
        Row {
            what: "no backups",
            keep: keep(1),
            zone: "UTC",
            backups: vec![],
            want: vec![],
        },
        Row {
            what: "input order does not matter",
            keep: keep(2),
            zone: "UTC",
            backups: vec![
                ("2026-06-02T03:00:00Z", Succeeded),
                ("2026-06-04T03:00:00Z", Succeeded),
                ("2026-06-01T03:00:00Z", Succeeded),
                ("2026-06-03T03:00:00Z", Succeeded),
            ],
            want: vec![
                ("2026-06-04T03:00:00Z", "last"),
                ("2026-06-03T03:00:00Z", "last"),
                ("2026-06-02T03:00:00Z", "remove"),
                ("2026-06-01T03:00:00Z", "remove"),
            ],
        },
    ]);
}

#[test]
fn same_instant_ties_break_by_id() {
    let a = backup(1, "2026-06-01T00:00:00Z", Succeeded);
    let b = backup(2, "2026-06-01T00:00:00Z", Succeeded);
    let want = vec![
        (b.id.clone(), Verdict::Keep(vec![KeepReason::Last])),
        (a.id.clone(), Verdict::Remove),
    ];
    assert_eq!(apply(&keep(1), &[a.clone(), b.clone()], Zone::UTC), want);
    assert_eq!(apply(&keep(1), &[b, a], Zone::UTC), want);
}

#[test]
fn keep_stored_form() {
    let k: Keep = serde_json::from_str("{}").unwrap();
    assert_eq!(k, Keep::default());
    assert_eq!(k.last.get(), 5);
    assert_eq!(serde_json::to_string(&k).unwrap(), r#"{"last":5}"#);
    let k: Keep = serde_json::from_str(r#"{"last":3,"daily":7,"yearly":2}"#).unwrap();
    assert_eq!(
        k,
        Keep {
            daily: n(7),
            yearly: n(2),
            ..keep(3)
        }
    );
    for bad in [
        r#"{"last":0}"#,
        r#"{"daily":0}"#,
        r#"{"last":-1}"#,
        r#"{"weeks":2}"#,
    ] {
        assert!(serde_json::from_str::<Keep>(bad).is_err(), "{bad}");
    }
}

#[test]
fn keep_flags() {
    assert_eq!(Keep::from_flags(KeepFlags::default()), Ok(Keep::default()));
    let k = Keep::from_flags(KeepFlags {
        last: Some(3),
        weekly: Some(4),
        ..Default::default()
    });
    assert_eq!(
        k,
        Ok(Keep {
            weekly: n(4),
            ..keep(3)
        })
    );
    let zero = |f: KeepFlags| Keep::from_flags(f).unwrap_err();
    assert_eq!(
        zero(KeepFlags {
            last: Some(0),
            ..Default::default()
        }),
        KeepError::NoneKept
    );
    assert_eq!(
        zero(KeepFlags {
            monthly: Some(0),
            ..Default::default()
        }),
        KeepError::ZeroBucket("monthly")
    );
    assert_eq!(
        KeepError::ZeroBucket("daily").to_string(),
        "--keep-daily 0 keeps nothing; give a count from 1, or leave the flag out"
    );
    assert!(KeepError::NoneKept.to_string().starts_with("--keep 0 "));
}
