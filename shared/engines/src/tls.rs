//! What a failed TLS connection tells the operator.
//!
//! sqlx and the redis client report a refused certificate in their own words, sometimes as
//! an I/O error; either way the failure is permanent (retrying will not change the
//! certificate) and names the fix.

use crate::Connection;
use cairn_domain::{Failure, TlsMode};

/// Whether an error text is about TLS rather than the network.
pub(crate) fn is_tls_text(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    [
        "certificate",
        "handshake",
        "tls",
        "ssl",
        "unknownissuer",
        "notvalidforname",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// A permanent `tls` failure for `engine` at `at`, naming the problem and the fix.
pub(crate) fn failure(engine: &str, at: &str, text: &str, conn: &Connection) -> Failure {
    let mode = conn.tls_mode();
    let skip = match TlsMode::param(conn.endpoint.engine) {
        Some(p) => format!(
            ", or use {p}={} to skip verification",
            TlsMode::Require.spelled_for(conn.endpoint.engine)
        ),
        None => String::new(),
    };
    let fix = match (&conn.ca_file, mode.verifies()) {
        (Some(ca), true) => format!(
            "the server's certificate does not verify against the CA file {}; give the CA that signed the server's certificate with `cairn target add … --ca-file PATH` (and a host name the certificate names){skip}",
            ca.display()
        ),
        (None, true) => format!(
            "the server's certificate does not verify against the system's CA certificates; give the CA that signed it with `cairn target add … --ca-file PATH`{skip}"
        ),
        (_, false) => "check that the server accepts TLS on this port".to_string(),
    };
    Failure::permanent(
        "tls",
        format!(
            "TLS with {engine} at {at} failed ({}): {text}; {fix}",
            mode.spelled_for(conn.endpoint.engine)
        ),
    )
}
