//! Parsing at the edge: what is accepted, what is refused and what the error says, and the
//! stored (JSON) form.

use super::super::{
    CronError, CronField, FieldProblem, Schedule, ScheduleError, ScheduleFlags, TimeOfDay, Weekdays,
};
use super::{at, cron, every};

fn flags(
    every: Option<&str>,
    at: Option<&str>,
    days: Option<&str>,
    cron: Option<&str>,
    tz: Option<&str>,
) -> Result<Schedule, ScheduleError> {
    Schedule::from_flags(ScheduleFlags {
        every,
        at,
        days,
        cron,
        tz,
    })
}

fn cron_error(expr: &str) -> CronError {
    match Schedule::cron(expr) {
        Err(ScheduleError::Cron { error, .. }) => error,
        other => panic!("{expr}: {other:?}"),
    }
}

#[test]
fn flag_combinations() {
    assert_eq!(
        flags(None, None, None, None, None),
        Err(ScheduleError::NoKind)
    );
    assert_eq!(
        flags(Some("daily"), Some("03:00"), None, None, None),
        Err(ScheduleError::TwoKinds)
    );
    assert_eq!(
        flags(None, Some("03:00"), None, Some("@daily"), None),
        Err(ScheduleError::TwoKinds)
    );
    assert_eq!(
        flags(Some("daily"), None, Some("mon"), None, None),
        Err(ScheduleError::DaysWithoutAt("mon".into()))
    );
    assert_eq!(
        flags(None, None, None, Some("0 3 * * *"), Some("Europe/Berlin")),
        Err(ScheduleError::ZoneWithCron)
    );
    assert_eq!(
        flags(None, None, None, Some("0 3 * * *"), Some("UTC")),
        Err(ScheduleError::ZoneWithCron),
        "--tz with --cron is refused even when it says UTC"
    );
    assert_eq!(
        flags(Some("daily"), None, None, None, Some("Mars/Olympus")),
        Err(ScheduleError::UnknownZone("Mars/Olympus".into()))
    );
    assert_eq!(
        flags(Some("fortnightly"), None, None, None, None),
        Err(ScheduleError::BadPreset("fortnightly".into()))
    );
    let default_zone = flags(Some("Daily"), None, None, None, None).unwrap();
    assert_eq!(default_zone, every("daily", "UTC"));
    assert_eq!(default_zone.zone().name(), "UTC");
    let weekdays = flags(
        None,
        Some("3:05"),
        Some("MON, wed,Friday"),
        None,
        Some("Asia/Kathmandu"),
    )
    .unwrap();
    assert_eq!(
        weekdays.to_string(),
        "mon,wed,fri at 03:05 (Asia/Kathmandu)"
    );
    assert_eq!(cron("0 3 * * *").zone().name(), "UTC");
}

#[test]
fn times_of_day() {
    for (text, ok) in [
        ("00:00", Some("00:00")),
        ("3:30", Some("03:30")),
        ("23:59", Some("23:59")),
        (" 07:05 ", Some("07:05")),
        ("24:00", None),
        ("25:00", None),
        ("12:60", None),
        ("3:5", None),
        ("0330", None),
        ("03:30:00", None),
        ("-1:00", None),
        ("+1:00", None),
        ("", None),
        ("noon", None),
    ] {
        let got = TimeOfDay::parse(text).map(|t| t.to_string());
        match ok {
            Some(want) => assert_eq!(got.as_deref(), Ok(want), "{text:?}"),
            None => assert_eq!(got, Err(ScheduleError::BadTime(text.into())), "{text:?}"),
        }
    }
    let e = TimeOfDay::parse("25:00").unwrap_err().to_string();
    assert!(e.contains("--at \"25:00\"") && e.contains("HH:MM"), "{e}");
}

#[test]
fn weekdays() {
    for (text, want) in [
        ("mon", "mon"),
        ("sun,sat", "sat,sun"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("fri-sun", "fri,sat,sun"),
        ("mon-sun", "mon,tue,wed,thu,fri,sat,sun"),
        ("Tuesday,THU,tue", "tue,thu"),
    ] {
        assert_eq!(Weekdays::parse(text).unwrap().to_string(), want, "{text}");
    }
    for (text, item) in [
        ("", ""),
        ("mon,,tue", ""),
        ("mo", "mo"),
        ("sun-sat", "sun-sat"),
        ("1", "1"),
    ] {
        assert_eq!(
            Weekdays::parse(text),
            Err(ScheduleError::BadDays {
                given: text.into(),
                item: item.into()
            }),
            "{text:?}"
        );
    }
}

#[test]
fn cron_errors_name_the_field() {
    let field = |expr: &str| match cron_error(expr) {
        CronError::Field { field, problem, .. } => (field, problem),
        other => panic!("{expr}: {other:?}"),
    };
    assert_eq!(cron_error("0 3 * *"), CronError::FieldCount(4));
    assert_eq!(cron_error("0 0 3 * * * *"), CronError::FieldCount(7));
    assert_eq!(cron_error(""), CronError::FieldCount(0));
    assert_eq!(
        cron_error("@reboot"),
        CronError::UnknownMacro("@reboot".into())
    );
    assert_eq!(field("60 * * * *").0, CronField::Minute);
    assert_eq!(field("0 24 * * *").0, CronField::Hour);
    assert_eq!(field("0 0 0 * *").0, CronField::DayOfMonth);
    assert_eq!(field("0 0 32 * *").0, CronField::DayOfMonth);
    assert_eq!(field("0 0 * 13 *").0, CronField::Month);
    assert_eq!(field("0 0 * * 8").0, CronField::DayOfWeek);
    assert_eq!(field("60 0 0 * * *").0, CronField::Second);
    assert!(matches!(
        field("0 0 * * mon-xyz").1,
        FieldProblem::NotAValue { .. }
    ));
    assert!(matches!(
        field("0 0 * foo *").1,
        FieldProblem::NotAValue { .. }
    ));
    assert!(
        matches!(field("0 0 * * jan").1, FieldProblem::NotAValue { .. }),
        "a month name is not a weekday"
    );
    assert_eq!(
        field("0 5-2 * * *").1,
        FieldProblem::Backwards { from: 5, to: 2 }
    );
    assert_eq!(field("*/0 * * * *").1, FieldProblem::BadStep("0".into()));
    assert_eq!(field("*/x * * * *").1, FieldProblem::BadStep("x".into()));
    assert_eq!(field("1,,2 * * * *").1, FieldProblem::Empty);
    assert_eq!(field("0 0 L * *").1, FieldProblem::Unsupported("L".into()));
    assert_eq!(
        field("0 0 15W * *").1,
        FieldProblem::Unsupported("15W".into())
    );
    assert_eq!(
        field("0 0 * * 5L").1,
        FieldProblem::Unsupported("5L".into())
    );
    assert_eq!(
        field("0 0 * * 1#2").1,
        FieldProblem::Unsupported("1#2".into())
    );
    assert_eq!(field("0 0 ? * *").1, FieldProblem::Unsupported("?".into()));
    assert_eq!(cron_error("0 0 30 2 *"), CronError::NeverFires);
    assert_eq!(
        cron_error("0 0 31 apr,jun,sep,nov *"),
        CronError::NeverFires
    );
    // With a restricted day-of-week, day 30 of February is moot: Mondays still fire.
    assert!(Schedule::cron("0 0 30 2 mon").is_ok());

    let text = Schedule::cron("0 24 * * *").unwrap_err().to_string();
    assert_eq!(
        text,
        "--cron \"0 24 * * *\": hour field \"24\": 24 is out of range; use a number from 0 to 23"
    );
    let text = Schedule::cron("0 3 * *").unwrap_err().to_string();
    assert!(
        text.contains("4 fields") && text.contains("write 5"),
        "{text}"
    );
}

#[test]
fn stored_form_round_trips_and_is_checked() {
    for (schedule, json) in [
        (
            every("weekly", "Europe/Berlin"),
            r#"{"kind":"every","every":"weekly","tz":"Europe/Berlin"}"#,
        ),
        (
            at("03:30", Some("mon-fri"), "America/New_York"),
            r#"{"kind":"at","at":"03:30","days":["mon","tue","wed","thu","fri"],"tz":"America/New_York"}"#,
        ),
        (
            cron("0  9 1-7 * mon"),
            r#"{"kind":"cron","cron":"0 9 1-7 * mon"}"#,
        ),
    ] {
        assert_eq!(serde_json::to_string(&schedule).unwrap(), json);
        assert_eq!(serde_json::from_str::<Schedule>(json).unwrap(), schedule);
    }
    let defaults: Schedule = serde_json::from_str(r#"{"kind":"at","at":"04:00"}"#).unwrap();
    assert_eq!(defaults, at("04:00", None, "UTC"));
    for bad in [
        r#"{"kind":"at","at":"25:00"}"#,
        r#"{"kind":"every","every":"daily","tz":"Nowhere/Land"}"#,
        r#"{"kind":"cron","cron":"0 0 * * 8"}"#,
        r#"{"kind":"at","at":"04:00","days":[]}"#,
        r#"{"kind":"every","every":"daily","cron":"@daily"}"#,
    ] {
        assert!(serde_json::from_str::<Schedule>(bad).is_err(), "{bad}");
    }
    let schema = serde_json::to_string(&schemars::schema_for!(Schedule)).unwrap();
    assert!(
        schema.contains("\"every\"") && schema.contains("CronExpr"),
        "{schema}"
    );
}

#[test]
fn every_fire_matches_its_calendar() {
    // The search never returns a time the calendar does not match (UTC: no DST mapping).
    for expr in [
        "0 9 1-7 * mon",
        "*/7 */5 */3 */2 *",
        "0 0 29 2 *",
        "15 4 * * 0,7",
        "*/20 0 0 * * *",
    ] {
        let s = cron(expr);
        let (calendar, _) = s.calendar();
        for t in s.fires_after(super::utc("2026-01-01T00:00:00Z")).take(200) {
            assert!(calendar.matches(t.naive_utc()), "{expr}: {t}");
        }
    }
}
