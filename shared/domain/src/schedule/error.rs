//! Why a schedule was refused: each error names the flag or crontab field and the fix.

use std::fmt;

/// A schedule that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("--tz {0:?} is not a known time zone; use an IANA name such as Europe/Berlin, America/New_York or UTC")]
    UnknownZone(String),
    #[error("--at {0:?} is not a time of day; write HH:MM from 00:00 to 23:59, e.g. 03:30")]
    BadTime(String),
    #[error("--days {given:?}: {item:?} is not a weekday; list days as mon,tue,wed,thu,fri,sat,sun (ranges such as mon-fri work too)")]
    BadDays { given: String, item: String },
    #[error("--every {0:?} is not a preset; use hourly, daily, weekly or monthly")]
    BadPreset(String),
    #[error("no schedule given; use one of --every, --at HH:MM or --cron \"EXPR\"")]
    NoKind,
    #[error("--every, --at and --cron each define the whole schedule; give only one of them")]
    TwoKinds,
    #[error("--days belongs to --at; write --at HH:MM --days {0}")]
    DaysWithoutAt(String),
    #[error(
        "--cron is always evaluated in UTC; drop --tz, or use --every or --at, which follow --tz"
    )]
    ZoneWithCron,
    #[error("--cron {expr:?}: {error}")]
    Cron { expr: String, error: CronError },
}

/// A field of a crontab expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl CronField {
    pub(crate) fn range(self) -> (u32, u32) {
        match self {
            Self::Second | Self::Minute => (0, 59),
            Self::Hour => (0, 23),
            Self::DayOfMonth => (1, 31),
            Self::Month => (1, 12),
            Self::DayOfWeek => (0, 7),
        }
    }
    /// What a value of this field looks like, for error messages.
    pub(crate) fn expected(self) -> &'static str {
        match self {
            Self::Second | Self::Minute => "a number from 0 to 59",
            Self::Hour => "a number from 0 to 23",
            Self::DayOfMonth => "a number from 1 to 31",
            Self::Month => "a number from 1 to 12 or a name jan…dec",
            Self::DayOfWeek => "a number from 0 to 7 (0 and 7 are Sunday) or a name sun…sat",
        }
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Second => "second",
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
        })
    }
}

/// Why a crontab expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("{0} fields; write 5 (minute hour day-of-month month day-of-week), 6 with a leading seconds field, or a macro such as @daily")]
    FieldCount(usize),
    #[error("unknown macro {0:?}; use @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually")]
    UnknownMacro(String),
    #[error("{field} field {text:?}: {problem}")]
    Field {
        field: CronField,
        text: String,
        problem: FieldProblem,
    },
    #[error("day-of-month never occurs in the months given (e.g. 30 or 31 in February); change day-of-month or month")]
    NeverFires,
}

/// What is wrong with one crontab field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    #[error("{value} is out of range; use {expected}")]
    OutOfRange { value: u32, expected: &'static str },
    #[error("{text:?} is not {expected}")]
    NotAValue {
        text: String,
        expected: &'static str,
    },
    #[error("range {from}-{to} runs backwards; write the smaller value first (for a range that wraps, list two ranges, e.g. 22-23,0-2)")]
    Backwards { from: u32, to: u32 },
    #[error("step {0:?} is not a whole number from 1 up")]
    BadStep(String),
    #[error("an empty item; remove the extra comma")]
    Empty,
    #[error("{0:?} is not crontab syntax (L, W, # and ? are Quartz extensions); list the values instead")]
    Unsupported(String),
}
