//! The meta-command guard on its own: what passes, what is wrapped, what is refused,
//! whatever the chunking.

use super::*;

fn run(allow_connect: bool, script: &str, size: usize) -> (String, Option<Failure>) {
    let mut g = MetaCommandGuard::new(allow_connect);
    let mut out = Vec::new();
    let mut refusal = None;
    for piece in script.as_bytes().chunks(size.max(1)) {
        out.extend_from_slice(&g.push(Bytes::copy_from_slice(piece)));
        refusal = refusal.or(g.refusal());
    }
    out.extend_from_slice(&g.finish());
    refusal = refusal.or(g.refusal());
    (String::from_utf8(out).unwrap(), refusal)
}

/// The output with every key replaced by `K`, so it can be compared.
fn keyless(s: &str) -> String {
    s.lines()
        .map(|l| match l.split_once(' ') {
            Some((c @ ("\\restrict" | "\\unrestrict"), _)) => format!("{c} K"),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const DUMPALL: &str = "\\restrict AAA
SET x = 1;
\\unrestrict AAA
\\connect template1
\\restrict BBB
CREATE TABLE t (x text);
COPY t (x) FROM stdin;
\\N
\\\\connect not really
\\.
\\unrestrict BBB
\\encoding SQL_ASCII
\\connect -reuse-previous=on \"dbname='ünï \\' code'\"
\\connect \"Odd \"\"name\"\"\"
SELECT 1; \\! not ours to judge: psql refuses it
";

#[test]
fn a_dumpall_script_is_restricted_and_its_connects_wrapped() {
    let want = "\\restrict K
SET x = 1;
\\unrestrict K
\\connect template1
\\restrict K
CREATE TABLE t (x text);
COPY t (x) FROM stdin;
\\N
\\\\connect not really
\\.
\\unrestrict K
\\encoding SQL_ASCII
\\restrict K
\\unrestrict K
\\connect -reuse-previous=on \"dbname='ünï \\' code'\"
\\restrict K
\\unrestrict K
\\connect \"Odd \"\"name\"\"\"
\\restrict K
SELECT 1; \\! not ours to judge: psql refuses it";
    for size in [1, 3, 17, DUMPALL.len()] {
        let (out, refusal) = run(true, DUMPALL, size);
        assert!(refusal.is_none(), "{refusal:?}");
        assert_eq!(keyless(&out), want, "chunk size {size}");
    }
}

#[test]
fn every_key_is_fresh_and_each_unrestrict_names_the_key_in_force() {
    let (out, _) = run(true, DUMPALL, 7);
    let keys: Vec<(&str, &str)> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(c, _)| *c == "\\restrict" || *c == "\\unrestrict")
        .collect();
    let mut current = None;
    let mut seen = std::collections::HashSet::new();
    for (command, key) in keys {
        assert_eq!(key.len(), KEY_LEN);
        assert!(!["AAA", "BBB"].contains(&key));
        if command == "\\restrict" {
            assert!(seen.insert(key), "a key is used once");
            current = Some(key);
        } else {
            assert_eq!(Some(key), current);
        }
    }
}

#[test]
fn connects_that_reach_beyond_a_database_are_refused() {
    let bad = [
        "\\connect \"host=evil.example dbname=x\"",
        "\\connect -reuse-previous=on \"dbname=x host=evil\"",
        "\\connect -reuse-previous=on \"dbname='x' host=evil\"",
        "\\connect -reuse-previous=on \"dbname='postgresql://evil/x'\"",
        "\\connect -reuse-previous=on \"host=evil\"",
        "\\connect \"postgresql://evil/x\"",
        "\\connect db postgres evil.example 5432",
        "\\connect db other_user",
        "\\connect :name",
        "\\connect `id`",
        "\\connect 'quoted'",
        "\\connect  db",
        "\\connect",
        "\\c db",
        "\\connect \"unterminated",
        "\\connect \"a\"b\"",
    ];
    for line in bad {
        let script = format!("SELECT 1;\n{line}\nSELECT 2;\n");
        let (out, refusal) = run(true, &script, 5);
        let refusal = refusal.unwrap_or_else(|| panic!("{line} passed"));
        assert_eq!(refusal.code, UNSAFE_ARTIFACT);
        assert!(
            refusal.message.starts_with("line 2 "),
            "{}",
            refusal.message
        );
        assert!(
            !out.contains("SELECT 2"),
            "{line}: nothing after it is sent"
        );
        assert!(!out.contains("evil"), "{line}");
    }
}

#[test]
fn a_one_database_restore_refuses_every_connect() {
    let (out, refusal) = run(false, "SELECT 1;\n\\connect template1\nSELECT 2;\n", 64);
    assert!(refusal.unwrap().message.contains("one-database backup"));
    assert_eq!(keyless(&out), "\\restrict K\nSELECT 1;");
    let (out, refusal) = run(false, "\\restrict X1\nSELECT 1;\n\\unrestrict X1\n", 4);
    assert!(refusal.is_none());
    assert_eq!(keyless(&out), "\\restrict K\nSELECT 1;");
}

#[test]
fn an_empty_artifact_still_starts_restricted_and_a_last_line_without_newline_counts() {
    let (out, _) = run(false, "", 1);
    assert_eq!(keyless(&out), "\\restrict K");
    let (_, refusal) = run(false, "SELECT 1;\n\\c x", 2);
    assert!(refusal.is_some());
}

#[test]
fn psql_refusals_are_explained() {
    let f = explain(Failure::permanent(
        "restore_failed",
        "psql exited with status 3: backslash commands are restricted; only \\unrestrict is allowed",
    ));
    assert_eq!((f.code.as_str(), f.retryable), (UNSAFE_ARTIFACT, false));
    assert!(f.message.contains("meta-command"), "{}", f.message);
    let other = Failure::retryable("restore_failed", "psql exited with status 2: boom");
    assert_eq!(explain(other.clone()), other);
}

#[test]
fn line_numbers_count_every_line_whatever_the_chunking() {
    let mut script = String::from("COPY t (x) FROM stdin;\n");
    for i in 0..1000 {
        script.push_str(&format!("{i}\tvalue\n\\N\n"));
    }
    script.push_str("\\.\n\\connect \"host=evil\"\nSELECT 1;\n");
    for size in [1, 7, 4096, script.len()] {
        let (out, refusal) = run(true, &script, size);
        let refusal = refusal.expect("refused");
        assert!(
            refusal.message.starts_with("line 2003 "),
            "{size}: {}",
            refusal.message
        );
        assert!(
            out.ends_with("\\.\n"),
            "{size}: everything before it passes"
        );
        assert_eq!(out.lines().count(), 2003, "{size}");
    }
}
