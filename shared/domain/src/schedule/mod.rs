//! Schedules: when a target is backed up.
//!
//! Three kinds, parsed at the edge into [`Schedule`]:
//! - a preset (`hourly`, `daily`, `weekly`, `monthly`) on the wall clock of a zone;
//! - a time of day on some weekdays (`--at 03:30 --days mon-fri`) on the wall clock of a zone;
//! - a crontab expression, always in UTC (see [`CronExpr`] for the dialect).
//!
//! All three compile to one bitset [`calendar`](calendar::Calendar) and share one search,
//! so presets, `--at` and crontab cannot disagree about month ends, leap days or weekdays.
//! Wall-clock schedules then go through the DST rules of [`zone`]: a time skipped by
//! spring-forward fires at the first instant after the gap, a repeated time fires once.
//!
//! Why not the `cron` crate: it is not a crontab reader (it wants a seconds field, numbers
//! weekdays 1 = Sunday, ANDs day-of-month with day-of-week, and in a zone skips or doubles
//! fires across DST). Translating expressions into its dialect would keep two grammars in
//! step forever, and it would still not give the DST rules above; the evaluator here is a
//! few hundred lines of bit arithmetic tested against hand-checked tables.

mod calendar;
mod crontab;
mod error;
mod firing;
mod parts;
mod zone;

#[cfg(test)]
mod tests;

pub use crontab::CronExpr;
pub use error::{CronError, CronField, FieldProblem, ScheduleError};
pub use firing::{
    decide, jitter, slot_job_id, CatchUp, Decision, DueCheck, PolicyId, PolicyVersion,
    MISSED_LISTED,
};
pub use parts::{Preset, TimeOfDay, Weekdays};
pub use zone::Zone;

use calendar::{Calendar, ALL_HOURS, ALL_WEEKDAYS};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use zone::Fold;

/// When a target is backed up. Stored in a policy as `{"kind": "every" | "at" | "cron", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Schedule {
    /// A preset on the wall clock of `tz`.
    Every {
        every: Preset,
        #[serde(default)]
        tz: Zone,
    },
    /// A time of day on some weekdays, on the wall clock of `tz`.
    At {
        at: TimeOfDay,
        #[serde(default)]
        days: Weekdays,
        #[serde(default)]
        tz: Zone,
    },
    /// A crontab expression, in UTC.
    Cron { cron: CronExpr },
}

/// The schedule flags of `cairn schedule set`, as typed by the user.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScheduleFlags<'a> {
    pub every: Option<&'a str>,
    pub at: Option<&'a str>,
    pub days: Option<&'a str>,
    pub cron: Option<&'a str>,
    pub tz: Option<&'a str>,
}

impl Schedule {
    /// Parses the flags of `cairn schedule set` (`--every | --at [--days] | --cron`, `--tz`).
    pub fn from_flags(flags: ScheduleFlags<'_>) -> Result<Self, ScheduleError> {
        let kinds = [flags.every, flags.at, flags.cron];
        match kinds.iter().filter(|k| k.is_some()).count() {
            0 => return Err(ScheduleError::NoKind),
            1 => {}
            _ => return Err(ScheduleError::TwoKinds),
        }
        if let (Some(days), None) = (flags.days, flags.at) {
            return Err(ScheduleError::DaysWithoutAt(days.to_string()));
        }
        if let Some(expr) = flags.cron {
            if flags.tz.is_some() {
                return Err(ScheduleError::ZoneWithCron);
            }
            return Self::cron(expr);
        }
        let tz = flags.tz.map(Zone::parse).transpose()?.unwrap_or_default();
        if let Some(every) = flags.every {
            return Ok(Self::Every {
                every: Preset::parse(every)?,
                tz,
            });
        }
        let at = TimeOfDay::parse(flags.at.unwrap_or_default())?;
        let days = flags
            .days
            .map(Weekdays::parse)
            .transpose()?
            .unwrap_or_default();
        Ok(Self::At { at, days, tz })
    }

    /// A crontab schedule (UTC).
    pub fn cron(expr: &str) -> Result<Self, ScheduleError> {
        let cron = CronExpr::parse(expr).map_err(|error| ScheduleError::Cron {
            expr: expr.to_string(),
            error,
        })?;
        Ok(Self::Cron { cron })
    }

    /// The zone whose wall clock the schedule follows (UTC for crontab). Retention buckets
    /// backups by days, weeks, … of this zone.
    pub fn zone(&self) -> Zone {
        match self {
            Self::Every { tz, .. } | Self::At { tz, .. } => *tz,
            Self::Cron { .. } => Zone::UTC,
        }
    }

    fn calendar(&self) -> (Calendar, Fold) {
        match self {
            Self::Every { every, .. } => {
                let midnight = Calendar::time_of_day(0, 0, ALL_WEEKDAYS);
                match every {
                    Preset::Hourly => (
                        Calendar {
                            hours: ALL_HOURS,
                            ..midnight
                        },
                        Fold::Both,
                    ),
                    Preset::Daily => (midnight, Fold::First),
                    Preset::Weekly => (Calendar::time_of_day(0, 0, 1 << 1), Fold::First),
                    Preset::Monthly => (
                        Calendar {
                            days: 1 << 1,
                            ..midnight
                        },
                        Fold::First,
                    ),
                }
            }
            Self::At { at, days, .. } => (
                Calendar::time_of_day(at.hour(), at.minute(), days.bits()),
                Fold::First,
            ),
            Self::Cron { cron } => (*cron.calendar(), Fold::First),
        }
    }

    /// The first fire strictly after `t`.
    ///
    /// Every schedule fires at least once every 8 years, so this answers for any instant
    /// up to 9 years before chrono's last representable year (262143); it panics past that.
    pub fn next_after(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.try_next_after(t)
            .expect("every schedule fires within 8 years of any instant before year 262000")
    }

    fn try_next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (calendar, fold) = self.calendar();
        let zone = self.zone();
        if zone.is_utc() {
            zone::next_after_in_utc(&calendar, t)
        } else {
            zone::next_after_in_zone(&calendar, zone.tz(), fold, t)
        }
    }

    /// The fires strictly after `t`, in order (take as many as needed).
    pub fn fires_after(&self, t: DateTime<Utc>) -> Fires<'_> {
        Fires {
            schedule: self,
            after: Some(t),
        }
    }
}

/// The fires of a schedule after an instant; see [`Schedule::fires_after`].
#[derive(Debug, Clone)]
pub struct Fires<'a> {
    schedule: &'a Schedule,
    after: Option<DateTime<Utc>>,
}

impl Iterator for Fires<'_> {
    type Item = DateTime<Utc>;
    fn next(&mut self) -> Option<DateTime<Utc>> {
        let next = self.schedule.try_next_after(self.after?);
        self.after = next;
        next
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every { every, tz } => write!(f, "{every} ({tz})"),
            Self::At { at, days, tz } if *days == Weekdays::ALL => {
                write!(f, "every day at {at} ({tz})")
            }
            Self::At { at, days, tz } => write!(f, "{days} at {at} ({tz})"),
            Self::Cron { cron } => write!(f, "cron {cron} (UTC)"),
        }
    }
}
