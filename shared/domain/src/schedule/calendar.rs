//! A calendar: the wall-clock times a schedule matches, one bitset per field, and the search
//! for the first matching time at or after a given one (the model of Vixie cron).
//!
//! Every schedule kind compiles to a calendar: presets and `--at` are calendars with one
//! second, one minute and one hour; a crontab is a calendar as written. The calendar knows
//! nothing of time zones: it matches naive wall-clock times, and `zone.rs` maps them to
//! instants.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// How day-of-month and day-of-week combine (Vixie cron): when either field was written
/// starting with `*`, a day must match both (the `*` one matches every day unless stepped);
/// when both are restricted, a day matching either fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayRule {
    Both,
    Either,
}

/// Bitsets of matching values: bit `v` set when value `v` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Calendar {
    /// Bits 0..=59.
    pub seconds: u64,
    /// Bits 0..=59.
    pub minutes: u64,
    /// Bits 0..=23.
    pub hours: u64,
    /// Bits 1..=31.
    pub days: u64,
    /// Bits 1..=12.
    pub months: u64,
    /// Bits 0..=6, 0 = Sunday.
    pub weekdays: u64,
    pub day_rule: DayRule,
}

/// All values `lo..=hi` as bits.
pub(crate) const fn span(lo: u32, hi: u32) -> u64 {
    let width = hi - lo + 1;
    let ones = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    ones << lo
}

#[cfg(test)]
pub(crate) const ALL_SECONDS: u64 = span(0, 59);
pub(crate) const ALL_HOURS: u64 = span(0, 23);
pub(crate) const ALL_DAYS: u64 = span(1, 31);
pub(crate) const ALL_MONTHS: u64 = span(1, 12);
pub(crate) const ALL_WEEKDAYS: u64 = span(0, 6);

/// A calendar is searched at most this many years ahead. A satisfiable calendar always
/// matches within 8 years (29 February across a skipped leap year such as 2100).
const SEARCH_YEARS: i32 = 9;

/// The smallest set bit of `mask` that is `>= from`.
fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask & (u64::MAX << from);
    (rest != 0).then(|| rest.trailing_zeros())
}

fn has(mask: u64, bit: u32) -> bool {
    bit < 64 && mask & (1 << bit) != 0
}

pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    match (
        NaiveDate::from_ymd_opt(year, month, 1),
        NaiveDate::from_ymd_opt(ny, nm, 1),
    ) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 31,
    }
}

impl Calendar {
    /// A calendar that fires at one time of day on the given weekdays, every month.
    pub(crate) fn time_of_day(hour: u32, minute: u32, weekdays: u64) -> Self {
        Self {
            seconds: 1,
            minutes: 1 << minute,
            hours: 1 << hour,
            days: ALL_DAYS,
            months: ALL_MONTHS,
            weekdays,
            day_rule: DayRule::Both,
        }
    }

    pub(crate) fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = has(self.days, date.day());
        let dow = has(self.weekdays, date.weekday().num_days_from_sunday());
        match self.day_rule {
            DayRule::Both => dom && dow,
            DayRule::Either => dom || dow,
        }
    }

    #[cfg(test)]
    pub(crate) fn matches(&self, t: NaiveDateTime) -> bool {
        has(self.months, t.month())
            && self.day_matches(t.date())
            && has(self.hours, t.hour())
            && has(self.minutes, t.minute())
            && has(self.seconds, t.second())
    }

    /// The first matching time at or after `start` (whole seconds; a fraction is dropped),
    /// or `None` when nothing matches within the search horizon.
    pub(crate) fn first_at_or_after(&self, start: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut date = start.date();
        let (mut h, mut m, mut s) = (start.hour(), start.minute(), start.second());
        let horizon = date.year().saturating_add(SEARCH_YEARS);
        loop {
            // Carry overflowed fields into the next larger one.
            if s >= 60 {
                (s, m) = (0, m + 1);
            }
            if m >= 60 {
                (m, h) = (0, h + 1);
            }
            if h >= 24 {
                (h, m, s) = (0, 0, 0);
                date = date.succ_opt()?;
            }
            if date.year() > horizon {
                return None;
            }
            if !has(self.months, date.month()) {
                let (y, mo) = if date.month() == 12 {
                    (date.year() + 1, 1)
                } else {
                    (date.year(), date.month() + 1)
                };
                date = NaiveDate::from_ymd_opt(y, mo, 1)?;
                (h, m, s) = (0, 0, 0);
                continue;
            }
            if !self.day_matches(date) {
                date = date.succ_opt()?;
                (h, m, s) = (0, 0, 0);
                continue;
            }
            let Some(nh) = next_bit(self.hours, h) else {
                (h, m, s) = (24, 0, 0);
                continue;
            };
            if nh != h {
                (h, m, s) = (nh, 0, 0);
            }
            let Some(nm) = next_bit(self.minutes, m) else {
                (h, m, s) = (h + 1, 0, 0);
                continue;
            };
            if nm != m {
                (m, s) = (nm, 0);
            }
            let Some(ns) = next_bit(self.seconds, s) else {
                (m, s) = (m + 1, 0);
                continue;
            };
            return Some(date.and_time(NaiveTime::from_hms_opt(h, m, ns)?));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn spans_and_bits() {
        assert_eq!(span(0, 0), 1);
        assert_eq!(span(1, 3), 0b1110);
        assert_eq!(ALL_SECONDS.count_ones(), 60);
        assert_eq!(next_bit(0b1010, 2), Some(3));
        assert_eq!(next_bit(0b1010, 4), None);
        assert_eq!(next_bit(u64::MAX, 64), None);
    }

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2028, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2026, 4), 30);
        assert_eq!(days_in_month(2026, 12), 31);
    }

    #[test]
    fn start_itself_matches_and_carries_roll_over() {
        let daily = Calendar::time_of_day(0, 0, ALL_WEEKDAYS);
        assert_eq!(
            daily.first_at_or_after(at("2026-12-31 00:00:00")),
            Some(at("2026-12-31 00:00:00"))
        );
        assert_eq!(
            daily.first_at_or_after(at("2026-12-31 00:00:01")),
            Some(at("2027-01-01 00:00:00"))
        );
        let every_second = Calendar {
            seconds: ALL_SECONDS,
            minutes: ALL_SECONDS,
            hours: ALL_HOURS,
            days: ALL_DAYS,
            months: ALL_MONTHS,
            weekdays: ALL_WEEKDAYS,
            day_rule: DayRule::Both,
        };
        assert_eq!(
            every_second.first_at_or_after(at("2026-12-31 23:59:59")),
            Some(at("2026-12-31 23:59:59"))
        );
    }

    #[test]
    fn an_impossible_calendar_ends_the_search() {
        let feb_30 = Calendar {
            days: 1 << 30,
            months: 1 << 2,
            ..Calendar::time_of_day(0, 0, ALL_WEEKDAYS)
        };
        assert_eq!(feb_30.first_at_or_after(at("2026-01-01 00:00:00")), None);
    }
}
