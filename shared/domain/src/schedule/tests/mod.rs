//! Table tests of schedules. Every expected instant is written by hand as RFC 3339 UTC,
//! worked out from the zone's offsets (noted beside each case), not computed by the code.

mod crontab;
mod firing;
mod parsing;
mod wall_clock;

use super::{Schedule, ScheduleFlags};
use chrono::{DateTime, SecondsFormat, Utc};

pub(super) fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

pub(super) fn every(preset: &str, tz: &str) -> Schedule {
    Schedule::from_flags(ScheduleFlags {
        every: Some(preset),
        tz: Some(tz),
        ..Default::default()
    })
    .unwrap()
}

pub(super) fn at(time: &str, days: Option<&str>, tz: &str) -> Schedule {
    Schedule::from_flags(ScheduleFlags {
        at: Some(time),
        days,
        tz: Some(tz),
        ..Default::default()
    })
    .unwrap()
}

pub(super) fn cron(expr: &str) -> Schedule {
    Schedule::cron(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// One row: a schedule, an instant, and the fires that follow it.
pub(super) struct Case {
    pub what: &'static str,
    pub schedule: Schedule,
    pub after: &'static str,
    pub fires: &'static [&'static str],
}

/// Checks every row and reports all mismatches at once.
pub(super) fn check(cases: &[Case]) {
    let mut wrong = Vec::new();
    for c in cases {
        let got: Vec<String> = c
            .schedule
            .fires_after(utc(c.after))
            .take(c.fires.len())
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .collect();
        if got != c.fires {
            wrong.push(format!(
                "{} ({}), after {}:\n   want {:?}\n   got  {:?}",
                c.what, c.schedule, c.after, c.fires, got
            ));
        }
        // next_after agrees with the iterator, and every fire is strictly later.
        let first = c.schedule.next_after(utc(c.after));
        assert!(first > utc(c.after), "{}", c.what);
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
