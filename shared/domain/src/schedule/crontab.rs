//! Crontab expressions as Vixie cron reads them, evaluated in UTC.
//!
//! Five fields (minute hour day-of-month month day-of-week), or six with a leading seconds
//! field; each field a comma list of `*`, `N`, `N-M`, `*/S`, `N-M/S` or `N/S` (N up to the
//! field's end, step S); month and day names (`jan`, `mon-fri`), case-insensitive;
//! day-of-week 0 and 7 are Sunday; macros `@hourly @daily @midnight @weekly @monthly @yearly
//! @annually`. When both day-of-month and day-of-week are restricted, a day matching either
//! fires; a field written starting with `*` (also `*/2` or `*,10`) counts as unrestricted
//! for that rule, exactly as in Vixie cron and cronie.

use super::calendar::{days_in_month, span, Calendar, DayRule};
use super::error::{CronError, CronField, FieldProblem};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A parsed crontab expression: its text (whitespace normalised) and its calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronExpr {
    text: String,
    calendar: Calendar,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl CronExpr {
    pub fn parse(expr: &str) -> Result<Self, CronError> {
        let text = expr.split_whitespace().collect::<Vec<_>>().join(" ");
        let calendar = if let Some(name) = text.strip_prefix('@') {
            compile(macro_fields(name).ok_or_else(|| CronError::UnknownMacro(text.clone()))?)?
        } else {
            compile(&text)?
        };
        Ok(Self { text, calendar })
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
    pub(crate) fn calendar(&self) -> &Calendar {
        &self.calendar
    }
}

fn macro_fields(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "hourly" => "0 * * * *",
        "daily" | "midnight" => "0 0 * * *",
        "weekly" => "0 0 * * 0",
        "monthly" => "0 0 1 * *",
        "yearly" | "annually" => "0 0 1 1 *",
        _ => return None,
    })
}

fn compile(text: &str) -> Result<Calendar, CronError> {
    let fields: Vec<&str> = text.split(' ').filter(|f| !f.is_empty()).collect();
    let (seconds, rest) = match fields.len() {
        5 => (1, &fields[..]),
        6 => (parse_field(CronField::Second, fields[0])?, &fields[1..]),
        n => return Err(CronError::FieldCount(n)),
    };
    let [minute, hour, dom, month, dow] = [rest[0], rest[1], rest[2], rest[3], rest[4]];
    let weekdays = parse_field(CronField::DayOfWeek, dow)?;
    // 7 is another name for Sunday.
    let weekdays = (weekdays | (weekdays >> 7)) & span(0, 6);
    let dom_star = dom.starts_with('*');
    let dow_star = dow.starts_with('*');
    let calendar = Calendar {
        seconds,
        minutes: parse_field(CronField::Minute, minute)?,
        hours: parse_field(CronField::Hour, hour)?,
        days: parse_field(CronField::DayOfMonth, dom)?,
        months: parse_field(CronField::Month, month)?,
        weekdays,
        day_rule: if dom_star || dow_star {
            DayRule::Both
        } else {
            DayRule::Either
        },
    };
    // Only day-of-month ANDed with an unstepped-or-stepped `*` day-of-week can be impossible
    // (`0 0 30 2 *`); any weekday recurs in every month over the years.
    if dow_star && !dom_star && !some_day_exists(&calendar) {
        return Err(CronError::NeverFires);
    }
    Ok(calendar)
}

fn some_day_exists(c: &Calendar) -> bool {
    (1..=12u32)
        .filter(|m| c.months & (1 << m) != 0)
        .any(|m| (c.days & span(1, days_in_month(2028, m))) != 0)
}

fn parse_field(field: CronField, text: &str) -> Result<u64, CronError> {
    let err = |problem| CronError::Field {
        field,
        text: text.to_string(),
        problem,
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        bits |= parse_item(field, item).map_err(err)?;
    }
    Ok(bits)
}

fn parse_item(field: CronField, item: &str) -> Result<u64, FieldProblem> {
    if item.is_empty() {
        return Err(FieldProblem::Empty);
    }
    if is_quartz(item) {
        return Err(FieldProblem::Unsupported(item.to_string()));
    }
    let (lo_max, hi_max) = field.range();
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => {
            let step: u32 = s
                .parse()
                .ok()
                .filter(|&s| s >= 1)
                .ok_or_else(|| FieldProblem::BadStep(s.to_string()))?;
            (r, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = if range == "*" {
        (lo_max, hi_max)
    } else if let Some((a, b)) = range.split_once('-') {
        let lo = value(field, a)?;
        let mut hi = value(field, b)?;
        if field == CronField::DayOfWeek && hi == 0 && lo > 0 {
            hi = 7; // `fri-sun`
        }
        if hi < lo {
            return Err(FieldProblem::Backwards { from: lo, to: hi });
        }
        (lo, hi)
    } else {
        let v = value(field, range)?;
        // `N/S` runs from N to the field's end.
        (v, if step.is_some() { hi_max } else { v })
    };
    let step = step.unwrap_or(1);
    let mut bits = 0u64;
    let mut v = lo;
    while v <= hi {
        bits |= 1 << v;
        v += step;
    }
    Ok(bits)
}

/// `L`, `LW`, `15W`, `5L`, `1#2`, `?`: Quartz extensions that crontab does not have.
fn is_quartz(item: &str) -> bool {
    let upper = item.to_ascii_uppercase();
    let digits_then = |suffix: &str| {
        upper
            .strip_suffix(suffix)
            .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
    };
    upper.contains(['#', '?']) || digits_then("L") || digits_then("W") || upper == "LW"
}

fn value(field: CronField, text: &str) -> Result<u32, FieldProblem> {
    let (lo, hi) = field.range();
    let expected = field.expected();
    let named = |names: &[&str]| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| i as u32)
    };
    let v = match field {
        CronField::Month => named(&MONTHS).map(|i| i + 1),
        CronField::DayOfWeek => named(&WEEKDAYS),
        _ => None,
    };
    let v = match v {
        Some(v) => v,
        None => text.parse::<u32>().map_err(|_| FieldProblem::NotAValue {
            text: text.to_string(),
            expected,
        })?,
    };
    if v < lo || v > hi {
        return Err(FieldProblem::OutOfRange { value: v, expected });
    }
    Ok(v)
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for CronExpr {
    type Error = CronError;
    fn try_from(s: String) -> Result<Self, CronError> {
        Self::parse(&s)
    }
}

impl From<CronExpr> for String {
    fn from(c: CronExpr) -> String {
        c.text
    }
}

impl JsonSchema for CronExpr {
    fn schema_name() -> String {
        "CronExpr".to_string()
    }
    fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
        let mut s = schemars::schema::SchemaObject {
            instance_type: Some(schemars::schema::InstanceType::String.into()),
            ..Default::default()
        };
        s.metadata().description = Some(
            "A crontab expression evaluated in UTC: 5 fields, 6 with leading seconds, or a macro such as @daily."
                .into(),
        );
        s.into()
    }
}
