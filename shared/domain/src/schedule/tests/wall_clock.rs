//! Presets and `--at` on the wall clock of a zone, across DST changes.
//!
//! 2026 changes used here: Europe/Berlin (CET +1, CEST +2) 29 Mar 02:00→03:00 and 25 Oct
//! 03:00→02:00; America/New_York (EST −5, EDT −4) 8 Mar 02:00→03:00 and 1 Nov 02:00→01:00;
//! Australia/Lord_Howe (LHST +10:30, LHDT +11) 5 Apr 02:00→01:30 and 4 Oct 02:00→02:30;
//! Asia/Kathmandu +05:45 all year.

use super::{at, check, every, Case};

#[test]
fn europe_berlin_spring_forward() {
    check(&[
        Case {
            what:
                "02:30 is skipped on 29 Mar: fires at 03:00 CEST, the first instant after the gap",
            schedule: at("02:30", None, "Europe/Berlin"),
            after: "2026-03-27T12:00:00Z",
            fires: &[
                "2026-03-28T01:30:00Z", // 02:30 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST
                "2026-03-30T00:30:00Z", // 02:30 CEST
            ],
        },
        Case {
            what: "02:00 is the gap's first minute: also 03:00 CEST",
            schedule: at("02:00", None, "Europe/Berlin"),
            after: "2026-03-28T12:00:00Z",
            fires: &["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"],
        },
        Case {
            what: "03:00 exists on the day of the change",
            schedule: at("03:00", None, "Europe/Berlin"),
            after: "2026-03-28T12:00:00Z",
            fires: &["2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"],
        },
        Case {
            what: "daily midnight moves from +1 to +2",
            schedule: every("daily", "Europe/Berlin"),
            after: "2026-03-28T12:00:00Z",
            fires: &["2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"],
        },
        Case {
            what: "hourly: 02:00 is skipped and fires with 03:00, once",
            schedule: every("hourly", "Europe/Berlin"),
            after: "2026-03-28T23:30:00Z", // 00:30 CET
            fires: &[
                "2026-03-29T00:00:00Z", // 01:00 CET
                "2026-03-29T01:00:00Z", // 03:00 CEST (02:00 skipped)
                "2026-03-29T02:00:00Z", // 04:00 CEST
            ],
        },
        Case {
            what: "weekly: Monday 00:00, before and after the change",
            schedule: every("weekly", "Europe/Berlin"),
            after: "2026-03-20T12:00:00Z",
            fires: &["2026-03-22T23:00:00Z", "2026-03-29T22:00:00Z"],
        },
        Case {
            what: "monthly: the 1st at 00:00, CET then CEST",
            schedule: every("monthly", "Europe/Berlin"),
            after: "2026-02-15T00:00:00Z",
            fires: &["2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"],
        },
        Case {
            what: "--days sun on the day of the change",
            schedule: at("02:30", Some("sun"), "Europe/Berlin"),
            after: "2026-03-23T00:00:00Z",
            fires: &["2026-03-29T01:00:00Z", "2026-04-05T00:30:00Z"],
        },
    ]);
}

#[test]
fn europe_berlin_fall_back() {
    check(&[
        Case {
            what: "02:30 happens twice on 25 Oct: fires once, at 02:30 CEST",
            schedule: at("02:30", None, "Europe/Berlin"),
            after: "2026-10-23T12:00:00Z",
            fires: &[
                "2026-10-24T00:30:00Z", // 02:30 CEST
                "2026-10-25T00:30:00Z", // first 02:30 (CEST); not 01:30Z
                "2026-10-26T01:30:00Z", // 02:30 CET
            ],
        },
        Case {
            what: "between the two 02:30s: the second one does not fire",
            schedule: at("02:30", None, "Europe/Berlin"),
            after: "2026-10-25T00:45:00Z",
            fires: &["2026-10-26T01:30:00Z"],
        },
        Case {
            what: "hourly: the repeated 02:00 is another hour and fires again",
            schedule: every("hourly", "Europe/Berlin"),
            after: "2026-10-24T22:30:00Z", // 00:30 CEST
            fires: &[
                "2026-10-24T23:00:00Z", // 01:00 CEST
                "2026-10-25T00:00:00Z", // 02:00 CEST
                "2026-10-25T01:00:00Z", // 02:00 CET
                "2026-10-25T02:00:00Z", // 03:00 CET
            ],
        },
        Case {
            what: "monthly on 1 Nov, after the change",
            schedule: every("monthly", "Europe/Berlin"),
            after: "2026-10-15T00:00:00Z",
            fires: &["2026-10-31T23:00:00Z", "2026-11-30T23:00:00Z"],
        },
    ]);
}

#[test]
fn america_new_york_both_changes() {
    check(&[
        Case {
            what: "02:30 skipped on 8 Mar: 03:00 EDT",
            schedule: at("02:30", None, "America/New_York"),
            after: "2026-03-07T12:00:00Z",
            fires: &[
                "2026-03-08T07:00:00Z", // 03:00 EDT
                "2026-03-09T06:30:00Z", // 02:30 EDT
            ],
        },
        Case {
            what: "daily midnight, EST then EDT",
            schedule: every("daily", "America/New_York"),
            after: "2026-03-07T12:00:00Z",
            fires: &["2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"],
        },
        Case {
            what: "01:30 twice on 1 Nov: once, at 01:30 EDT",
            schedule: at("01:30", None, "America/New_York"),
            after: "2026-10-31T12:00:00Z",
            fires: &[
                "2026-11-01T05:30:00Z", // 01:30 EDT; not 06:30Z
                "2026-11-02T06:30:00Z", // 01:30 EST
            ],
        },
        Case {
            what: "--days sun,mon through the fall-back Sunday",
            schedule: at("01:30", Some("sun,mon"), "America/New_York"),
            after: "2026-10-27T00:00:00Z", // Mon 26 Oct, 20:00 EDT
            fires: &[
                "2026-11-01T05:30:00Z", // Sun 01:30 EDT
                "2026-11-02T06:30:00Z", // Mon 01:30 EST
                "2026-11-08T06:30:00Z", // Sun 01:30 EST
            ],
        },
        Case {
            what: "hourly through fall-back: 01:00 twice",
            schedule: every("hourly", "America/New_York"),
            after: "2026-11-01T04:30:00Z", // 00:30 EDT
            fires: &[
                "2026-11-01T05:00:00Z", // 01:00 EDT
                "2026-11-01T06:00:00Z", // 01:00 EST
                "2026-11-01T07:00:00Z", // 02:00 EST
            ],
        },
        Case {
            what: "weekly: Monday after each change",
            schedule: every("weekly", "America/New_York"),
            after: "2026-03-01T00:00:00Z",
            fires: &["2026-03-02T05:00:00Z", "2026-03-09T04:00:00Z"],
        },
    ]);
}

#[test]
fn australia_lord_howe_half_hour_dst() {
    check(&[
        Case {
            what: "02:15 in the 02:00→02:30 gap of 4 Oct: fires at 02:30 LHDT",
            schedule: at("02:15", None, "Australia/Lord_Howe"),
            after: "2026-10-02T12:00:00Z",
            fires: &[
                "2026-10-02T15:45:00Z", // 3 Oct 02:15 LHST
                "2026-10-03T15:30:00Z", // 4 Oct 02:30 LHDT
                "2026-10-04T15:15:00Z", // 5 Oct 02:15 LHDT
            ],
        },
        Case {
            what: "02:00, the gap's first minute",
            schedule: at("02:00", None, "Australia/Lord_Howe"),
            after: "2026-10-03T00:00:00Z",
            fires: &["2026-10-03T15:30:00Z", "2026-10-04T15:00:00Z"],
        },
        Case {
            what: "01:45 twice on 5 Apr (01:30–02:00 repeats): once, at 01:45 LHDT",
            schedule: at("01:45", None, "Australia/Lord_Howe"),
            after: "2026-04-03T12:00:00Z",
            fires: &[
                "2026-04-03T14:45:00Z", // 4 Apr 01:45 LHDT
                "2026-04-04T14:45:00Z", // 5 Apr first 01:45 (LHDT); not 15:15Z
                "2026-04-05T15:15:00Z", // 6 Apr 01:45 LHST
            ],
        },
        Case {
            what: "hourly across the gap: 02:00 fires at 02:30, then 03:00",
            schedule: every("hourly", "Australia/Lord_Howe"),
            after: "2026-10-03T14:00:00Z", // 4 Oct 00:30 LHST
            fires: &[
                "2026-10-03T14:30:00Z", // 01:00 LHST
                "2026-10-03T15:30:00Z", // 02:30 LHDT (02:00 skipped)
                "2026-10-03T16:00:00Z", // 03:00 LHDT
            ],
        },
        Case {
            what: "hourly across fall-back: no whole hour repeats",
            schedule: every("hourly", "Australia/Lord_Howe"),
            after: "2026-04-04T13:00:00Z", // 5 Apr 00:00 LHDT
            fires: &[
                "2026-04-04T14:00:00Z", // 01:00 LHDT
                "2026-04-04T15:30:00Z", // 02:00 LHST
                "2026-04-04T16:30:00Z", // 03:00 LHST
            ],
        },
        Case {
            what: "daily midnight, LHDT then LHST",
            schedule: every("daily", "Australia/Lord_Howe"),
            after: "2026-04-03T00:00:00Z",
            fires: &[
                "2026-04-03T13:00:00Z",
                "2026-04-04T13:00:00Z",
                "2026-04-05T13:30:00Z",
            ],
        },
    ]);
}

#[test]
fn asia_kathmandu_quarter_hour_offset() {
    check(&[
        Case {
            what: "daily midnight is 18:15 UTC the day before",
            schedule: every("daily", "Asia/Kathmandu"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-01T18:15:00Z", "2026-06-02T18:15:00Z"],
        },
        Case {
            what: "hourly is a quarter past each UTC hour",
            schedule: every("hourly", "Asia/Kathmandu"),
            after: "2026-06-01T00:00:00Z", // 05:45 NPT
            fires: &["2026-06-01T00:15:00Z", "2026-06-01T01:15:00Z"],
        },
        Case {
            what: "--at 05:45 is 00:00 UTC; strictly after it, the next day",
            schedule: at("05:45", None, "Asia/Kathmandu"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-02T00:00:00Z"],
        },
        Case {
            what: "monthly on the 1st, 00:00 NPT",
            schedule: every("monthly", "Asia/Kathmandu"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-30T18:15:00Z", "2026-07-31T18:15:00Z"],
        },
    ]);
}

#[test]
fn utc_presets_and_days() {
    check(&[
        Case {
            what: "hourly",
            schedule: every("hourly", "UTC"),
            after: "2026-12-31T23:00:00Z",
            fires: &["2027-01-01T00:00:00Z", "2027-01-01T01:00:00Z"],
        },
        Case {
            what: "weekly from a Monday 00:00 is the next Monday",
            schedule: every("weekly", "UTC"),
            after: "2026-06-01T00:00:00Z",
            fires: &["2026-06-08T00:00:00Z"],
        },
        Case {
            what: "monthly through the year end",
            schedule: every("monthly", "UTC"),
            after: "2026-11-15T00:00:00Z",
            fires: &[
                "2026-12-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
                "2027-02-01T00:00:00Z",
            ],
        },
        Case {
            what: "--days mon,wed,fri from a Saturday",
            schedule: at("07:00", Some("mon,wed,fri"), "UTC"),
            after: "2026-06-06T00:00:00Z",
            fires: &[
                "2026-06-08T07:00:00Z",
                "2026-06-10T07:00:00Z",
                "2026-06-12T07:00:00Z",
            ],
        },
        Case {
            what: "--days sat,sun from a Friday",
            schedule: at("23:59", Some("sat,sun"), "UTC"),
            after: "2026-06-05T00:00:00Z",
            fires: &[
                "2026-06-06T23:59:00Z",
                "2026-06-07T23:59:00Z",
                "2026-06-13T23:59:00Z",
            ],
        },
        Case {
            what: "--days mon-fri skips the weekend",
            schedule: at("12:00", Some("mon-fri"), "UTC"),
            after: "2026-06-05T12:00:00Z", // Friday noon
            fires: &["2026-06-08T12:00:00Z", "2026-06-09T12:00:00Z"],
        },
        Case {
            what: "--days fri-sun, a range through Sunday",
            schedule: at("00:00", Some("fri-sun"), "UTC"),
            after: "2026-06-01T00:00:00Z",
            fires: &[
                "2026-06-05T00:00:00Z",
                "2026-06-06T00:00:00Z",
                "2026-06-07T00:00:00Z",
                "2026-06-12T00:00:00Z",
            ],
        },
        Case {
            what: "a fraction of a second past a fire is past it",
            schedule: at("00:00", None, "UTC"),
            after: "2026-06-01T00:00:00.5Z",
            fires: &["2026-06-02T00:00:00Z"],
        },
        Case {
            what: "a fraction of a second before a fire is before it",
            schedule: at("00:00", None, "UTC"),
            after: "2026-05-31T23:59:59.5Z",
            fires: &["2026-06-01T00:00:00Z"],
        },
    ]);
}
