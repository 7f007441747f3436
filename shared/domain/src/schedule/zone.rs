//! Time zones, and how a wall-clock time becomes an instant across DST changes.
//!
//! The rules, for schedules that follow a zone's wall clock (presets and `--at`):
//! - a wall-clock time skipped by spring-forward fires at the first instant after the gap
//!   (Europe/Berlin 02:30 on 29 March 2026 fires at 03:00 CEST);
//! - a wall-clock time repeated by fall-back fires once, at its first occurrence.
//!   The one exception is `hourly`: it means every hour, so the repeated hour is an hour of
//!   its own and fires again (see [`Fold`]).

use super::calendar::Calendar;
use super::error::ScheduleError;
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An IANA time zone (`Europe/Berlin`, `UTC`), parsed at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(Tz);

impl Zone {
    pub const UTC: Zone = Zone(Tz::UTC);

    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        Tz::from_str(s.trim())
            .map(Self)
            .map_err(|_| ScheduleError::UnknownZone(s.to_string()))
    }
    pub fn tz(&self) -> Tz {
        self.0
    }
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
    pub fn is_utc(&self) -> bool {
        matches!(self.0, Tz::UTC | Tz::Etc__UTC)
    }
    /// The wall-clock time of `t` in this zone.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        self.0.from_utc_datetime(&t.naive_utc()).naive_local()
    }
}

impl Default for Zone {
    fn default() -> Self {
        Self::UTC
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for Zone {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, ScheduleError> {
        Self::parse(&s)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        z.name().to_string()
    }
}

impl JsonSchema for Zone {
    fn schema_name() -> String {
        "Zone".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        s.metadata().description =
            Some("An IANA time zone name, e.g. Europe/Berlin or UTC.".into());
        s.into()
    }
}

/// What a wall-clock time repeated by fall-back does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fold {
    /// Fires once, at the first occurrence (daily, weekly, monthly, `--at`).
    First,
    /// Fires at both occurrences: they are two different hours (`hourly`).
    Both,
}

/// Offsets of real zones differ by at most this much around a DST change (2 h for the
/// historical double summer time; 30 min for Lord Howe), with room to spare.
const MARGIN: TimeDelta = TimeDelta::hours(3);

fn whole_seconds(t: NaiveDateTime) -> NaiveDateTime {
    t - TimeDelta::nanoseconds(i64::from(t.and_utc().timestamp_subsec_nanos()))
}

/// The instants at which wall-clock time `n` fires in `tz`: one, or two for an hour
/// repeated by fall-back under [`Fold::Both`].
fn fire_instants(tz: Tz, n: NaiveDateTime, fold: Fold) -> [Option<DateTime<Utc>>; 2] {
    match tz.from_local_datetime(&n) {
        LocalResult::Single(t) => [Some(t.with_timezone(&Utc)), None],
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            let (early, late) = (a.min(b), a.max(b));
            match fold {
                Fold::First => [Some(early), None],
                Fold::Both => [Some(early), Some(late)],
            }
        }
        LocalResult::None => [first_instant_after_gap(tz, n), None],
    }
}

/// The first instant whose wall-clock time is past `n`, a time inside a spring-forward gap:
/// the instant the clocks jumped. Binary search over the seconds around `n`; offsets of real
/// zones lie within −12 h and +14 h, so the answer lies within ±15 h of `n` read as UTC.
fn first_instant_after_gap(tz: Tz, n: NaiveDateTime) -> Option<DateTime<Utc>> {
    let base = n.and_utc().timestamp();
    let past_n = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .is_some_and(|t| tz.from_utc_datetime(&t.naive_utc()).naive_local() > n)
    };
    let (mut lo, mut hi) = (base - 15 * 3600, base + 15 * 3600);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if past_n(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// The first instant strictly after `t` at which `calendar`, read on the wall clock of
/// `tz`, fires.
pub(crate) fn next_after_in_zone(
    calendar: &Calendar,
    tz: Tz,
    fold: Fold,
    t: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    // Wall-clock times from a few hours before `t`'s own can still fire after `t` (a fold
    // repeats them later); wall-clock times a few hours past the first candidate cannot
    // fire before it.
    let local = whole_seconds(tz.from_utc_datetime(&t.naive_utc()).naive_local());
    let mut from = local.checked_sub_signed(MARGIN)?;
    let mut best: Option<DateTime<Utc>> = None;
    let mut stop: Option<NaiveDateTime> = None;
    loop {
        let n = calendar.first_at_or_after(from)?;
        if stop.is_some_and(|stop| n > stop) {
            return best;
        }
        for fire in fire_instants(tz, n, fold).into_iter().flatten() {
            if fire > t && best.is_none_or(|b| fire < b) {
                best = Some(fire);
            }
        }
        if best.is_some() && stop.is_none() {
            stop = n.checked_add_signed(MARGIN);
        }
        from = n.checked_add_signed(TimeDelta::seconds(1))?;
    }
}

/// The first instant strictly after `t` at which `calendar`, read in UTC, fires.
pub(crate) fn next_after_in_utc(calendar: &Calendar, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let from = whole_seconds(t.naive_utc()).checked_add_signed(TimeDelta::seconds(1))?;
    calendar.first_at_or_after(from).map(|n| n.and_utc())
}
