//! Crontab expressions (UTC): fields, lists, ranges, steps, names, macros, month ends, leap
//! days and the day-of-month/day-of-week rule of Vixie cron.

use super::{check, cron, Case};

#[test]
fn month_ends_and_leap_days() {
    check(&[
        Case {
            what: "the 31st skips 30-day months and February",
            schedule: cron("0 0 31 * *"),
            after: "2026-01-31T00:00:00Z",
            fires: &[
                "2026-03-31T00:00:00Z",
                "2026-05-31T00:00:00Z",
                "2026-07-31T00:00:00Z",
                "2026-08-31T00:00:00Z",
                "2026-10-31T00:00:00Z",
                "2026-12-31T00:00:00Z",
            ],
        },
        Case {
            what: "29 February: the next leap year",
            schedule: cron("0 0 29 2 *"),
            after: "2026-01-01T00:00:00Z",
            fires: &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"],
        },
        Case {
            what: "29 February across 2100, which is not a leap year",
            schedule: cron("0 0 29 2 *"),
            after: "2096-03-01T00:00:00Z",
            fires: &["2104-02-29T00:00:00Z"],
        },
        Case {
            what: "the 30th in a list of months that includes February",
            schedule: cron("15 6 30 jan-mar *"),
            after: "2026-01-01T00:00:00Z",
            fires: &[
                "2026-01-30T06:15:00Z",
                "2026-03-30T06:15:00Z",
                "2027-01-30T06:15:00Z",
            ],
        },
    ]);
}

#[test]
fn day_of_month_or_day_of_week() {
    check(&[
        Case {
            what: "days 1-7 or any Monday (June 2026 starts on a Monday)",
            schedule: cron("0 9 1-7 * mon"),
            after: "2026-06-01T09:00:00Z",
            fires: &[
                "2026-06-02T09:00:00Z",
                "2026-06-03T09:00:00Z",
                "2026-06-04T09:00:00Z",
                "2026-06-05T09:00:00Z",
                "2026-06-06T09:00:00Z",
                "2026-06-07T09:00:00Z",
                "2026-06-08T09:00:00Z", // Monday
                "2026-06-15T09:00:00Z", // Monday
                "2026-06-22T09:00:00Z",
                "2026-06-29T09:00:00Z",
                "2026-07-01T09:00:00Z", // day 1, a Wednesday
            ],
        },
        Case {
            what: "the 13th or any Friday",
            schedule: cron("0 0 13 * 5"),
            after: "2026-02-01T00:00:00Z",
            fires: &[
                "2026-02-06T00:00:00Z", // Fri
                "2026-02-13T00:00:00Z", // Fri the 13th, once
                "2026-02-20T00:00:00Z",
                "2026-02-27T00:00:00Z",
                "2026-03-06T00:00:00Z",
                "2026-03-13T00:00:00Z",
            ],
        },
        Case {
            what: "day-of-week only: day-of-month is *",
            schedule: cron("0 0 * * mon"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z"],
        },
        Case {
            what: "day-of-month only: day-of-week is *",
            schedule: cron("0 0 15 * *"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-15T00:00:00Z", "2026-07-15T00:00:00Z"],
        },
        Case {
            what: "a stepped * counts as unrestricted (Vixie): odd days that are Mondays",
            schedule: cron("0 0 */2 * mon"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-15T00:00:00Z",
                "2026-06-29T00:00:00Z",
                "2026-07-13T00:00:00Z",
                "2026-07-27T00:00:00Z",
            ],
        },
        Case {
            what: "the rule reads the first character, as Vixie does: `*,10` is unrestricted",
            schedule: cron("0 12 *,10 * tue"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-02T12:00:00Z", "2026-06-09T12:00:00Z"],
        },
        Case {
            what: "... and `10,*` is restricted, so either matches: every day",
            schedule: cron("0 12 10,* * tue"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-01T12:00:00Z",
                "2026-06-02T12:00:00Z",
                "2026-06-03T12:00:00Z",
            ],
        },
    ]);
}

#[test]
fn lists_ranges_steps_and_names() {
    check(&[
        Case {
            what: "*/15",
            schedule: cron("*/15 * * * *"),
            after: "2026-06-01T10:07:00Z",
            fires: &[
                "2026-06-01T10:15:00Z",
                "2026-06-01T10:30:00Z",
                "2026-06-01T10:45:00Z",
                "2026-06-01T11:00:00Z",
            ],
        },
        Case {
            what: "N/S runs from N to the field's end",
            schedule: cron("5/20 3 * * *"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-01T03:05:00Z",
                "2026-06-01T03:25:00Z",
                "2026-06-01T03:45:00Z",
                "2026-06-02T03:05:00Z",
            ],
        },
        Case {
            what: "a stepped range of hours",
            schedule: cron("30 8-18/4 * * *"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-01T08:30:00Z",
                "2026-06-01T12:30:00Z",
                "2026-06-01T16:30:00Z",
                "2026-06-02T08:30:00Z",
            ],
        },
        Case {
            what: "lists mixing values and ranges",
            schedule: cron("0,30 1,22-23 * * *"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-01T01:00:00Z",
                "2026-06-01T01:30:00Z",
                "2026-06-01T22:00:00Z",
                "2026-06-01T22:30:00Z",
                "2026-06-01T23:00:00Z",
                "2026-06-01T23:30:00Z",
                "2026-06-02T01:00:00Z",
            ],
        },
        Case {
            what: "1-5 is Monday to Friday",
            schedule: cron("0 22 * * 1-5"),
            after: "2026-06-05T22:00:00Z", // Friday
            fires: &["2026-06-08T22:00:00Z", "2026-06-09T22:00:00Z"],
        },
        Case {
            what: "0 and 7 are both Sunday",
            schedule: cron("0 0 * * 7"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-07T00:00:00Z", "2026-06-14T00:00:00Z"],
        },
        Case {
            what: "sat-sun wraps through 7; month names in a list, any case",
            schedule: cron("30 4 * JAN,jul sat-sun"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-07-04T04:30:00Z",
                "2026-07-05T04:30:00Z",
                "2026-07-11T04:30:00Z",
            ],
        },
        Case {
            what: "5-7 is Friday to Sunday",
            schedule: cron("0 12 * * 5-7"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-05T12:00:00Z",
                "2026-06-06T12:00:00Z",
                "2026-06-07T12:00:00Z",
                "2026-06-12T12:00:00Z",
            ],
        },
        Case {
            what: "a month range stepped by 3",
            schedule: cron("0 0 1 */3 *"),
            after: "2026-02-01T00:00:00Z",
            fires: &[
                "2026-04-01T00:00:00Z",
                "2026-07-01T00:00:00Z",
                "2026-10-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
            ],
        },
        Case {
            what: "six fields: seconds first",
            schedule: cron("30 0 9 * * *"),
            after: "2026-06-01T09:00:30Z",
            fires: &["2026-06-02T09:00:30Z"],
        },
        Case {
            what: "six fields: every 20 seconds",
            schedule: cron("*/20 * * * * *"),
            after: "2026-12-31T23:59:30Z",
            fires: &[
                "2026-12-31T23:59:40Z",
                "2027-01-01T00:00:00Z",
                "2027-01-01T00:00:20Z",
            ],
        },
        Case {
            what: "extra spaces between fields",
            schedule: cron("  0   3  *  *  * "),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-01T03:00:00Z"],
        },
    ]);
}

#[test]
fn macros() {
    check(&[
        Case {
            what: "@hourly",
            schedule: cron("@hourly"),
            after: "2026-06-01T10:00:00Z",
            fires: &["2026-06-01T11:00:00Z"],
        },
        Case {
            what: "@daily",
            schedule: cron("@daily"),
            after: "2026-06-01T10:00:00Z",
            fires: &["2026-06-02T00:00:00Z"],
        },
        Case {
            what: "@midnight",
            schedule: cron("@midnight"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-02T00:00:00Z"],
        },
        Case {
            what: "@weekly is Sunday 00:00",
            schedule: cron("@weekly"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-07T00:00:00Z", "2026-06-14T00:00:00Z"],
        },
        Case {
            what: "@monthly",
            schedule: cron("@monthly"),
            after: "2026-01-31T00:00:00Z",
            fires: &["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"],
        },
        Case {
            what: "@yearly",
            schedule: cron("@yearly"),
            after: "2026-01-01T00:00:00Z",
            fires: &["2027-01-01T00:00:00Z"],
        },
        Case {
            what: "@annually, any case",
            schedule: cron("@ANNUALLY"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2027-01-01T00:00:00Z"],
        },
    ]);
}
