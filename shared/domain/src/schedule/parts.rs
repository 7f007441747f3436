//! The parts of a wall-clock schedule: a preset, a time of day, a set of weekdays.

use super::error::ScheduleError;
use chrono::Weekday;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// `--every`: hourly = minute 0 of every hour; daily = 00:00; weekly = Monday 00:00;
/// monthly = the 1st at 00:00; all on the wall clock of the schedule's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl Preset {
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hourly" => Ok(Self::Hourly),
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            "monthly" => Ok(Self::Monthly),
            _ => Err(ScheduleError::BadPreset(s.to_string())),
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--at HH:MM`: a wall-clock time of day, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8) -> Option<Self> {
        (hour < 24 && minute < 60).then_some(Self { hour, minute })
    }
    /// `3:30`, `03:30` and `23:59` are times of day; `24:00`, `25:00`, `3:5`, `0330` are not.
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let bad = || ScheduleError::BadTime(s.to_string());
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        let digits = |t: &str, max_len| {
            !t.is_empty() && t.len() <= max_len && t.chars().all(|c| c.is_ascii_digit())
        };
        if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
            return Err(bad());
        }
        Self::new(h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
    pub fn hour(&self) -> u32 {
        self.hour.into()
    }
    pub fn minute(&self) -> u32 {
        self.minute.into()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = ScheduleError;
    fn try_from(s: String) -> Result<Self, ScheduleError> {
        Self::parse(&s)
    }
}

impl From<TimeOfDay> for String {
    fn from(t: TimeOfDay) -> String {
        t.to_string()
    }
}

impl JsonSchema for TimeOfDay {
    fn schema_name() -> String {
        "TimeOfDay".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        s.string().pattern = Some("^([01][0-9]|2[0-3]):[0-5][0-9]$".to_string());
        s.into()
    }
}

const NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const FULL_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// `--days mon,tue,…`: a non-empty set of weekdays (bit 0 = Sunday, as crontab counts).
/// Stored as a list of three-letter names, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Weekdays(u8);

impl Weekdays {
    pub const ALL: Weekdays = Weekdays(0x7f);

    /// `mon,wed,fri`, `mon-fri`, `sat,sun`, `Monday`; case-insensitive.
    pub fn parse(s: &str) -> Result<Self, ScheduleError> {
        let bad = |item: &str| ScheduleError::BadDays {
            given: s.to_string(),
            item: item.to_string(),
        };
        let mut bits = 0u8;
        for item in s.split(',').map(str::trim) {
            let day = |name: &str| day_number(name).ok_or_else(|| bad(item));
            match item.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    // Monday-first order, so that `mon-sun` and `fri-sun` read as written.
                    let (a, b) = ((a + 6) % 7, (b + 6) % 7);
                    if b < a {
                        return Err(bad(item));
                    }
                    for d in a..=b {
                        bits |= 1 << ((d + 1) % 7);
                    }
                }
                None => bits |= 1 << day(item)?,
            }
        }
        Ok(Self(bits))
    }
    pub fn contains(&self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_sunday()) != 0
    }
    /// As a calendar bitset (bit 0 = Sunday).
    pub(crate) fn bits(&self) -> u64 {
        self.0.into()
    }
    fn names(&self) -> Vec<String> {
        (1..=7)
            .map(|d| d % 7)
            .filter(|d| self.0 & (1 << d) != 0)
            .map(|d| NAMES[d].to_string())
            .collect()
    }
}

fn day_number(name: &str) -> Option<u32> {
    let name = name.trim();
    NAMES
        .iter()
        .chain(FULL_NAMES.iter())
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| (i % 7) as u32)
}

impl Default for Weekdays {
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

impl TryFrom<Vec<String>> for Weekdays {
    type Error = ScheduleError;
    fn try_from(v: Vec<String>) -> Result<Self, ScheduleError> {
        Self::parse(&v.join(","))
    }
}

impl From<Weekdays> for Vec<String> {
    fn from(d: Weekdays) -> Vec<String> {
        d.names()
    }
}

impl JsonSchema for Weekdays {
    fn schema_name() -> String {
        "Weekdays".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let day = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            enum_values: Some(NAMES.iter().map(|n| (*n).into()).collect()),
            ..Default::default()
        };
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::Array.into()),
            ..Default::default()
        };
        s.array().items = Some(schemars::schema::Schema::Object(day).into());
        s.array().min_items = Some(1);
        s.into()
    }
}
