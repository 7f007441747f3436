//! Fuzzes the target URL parser (`Endpoint::parse`), which reads whatever an operator or an
//! API client sends. Checked beyond "never panics": an accepted endpoint reads back equal
//! from the JSON the ledger stores, its printed form parses without panicking, and a
//! password in the URL never shows in the printed endpoint or in the error.
#![no_main]

use cairn_domain::Endpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let said = what_parse_says(text);
    if let Some(password) = password_of(text) {
        // The same URL with another password: whatever the answer holds of the password
        // beyond what it holds then (`postgres` is in the scheme hint, say) was echoed.
        // Another letter at every position, so the password cannot be found in it.
        let decoy: String = password
            .chars()
            .map(|c| if c == 'Q' { 'Z' } else { 'Q' })
            .collect();
        let baseline = what_parse_says(&text.replacen(&password, &decoy, 1));
        assert!(
            said.matches(&password).count() <= baseline.matches(&password).count(),
            "the password {password:?} shows in {said:?}"
        );
    }
});

/// The printed endpoint, or the error message.
fn what_parse_says(text: &str) -> String {
    match Endpoint::parse(text) {
        Ok(endpoint) => {
            let json = serde_json::to_vec(&endpoint).expect("an endpoint serializes");
            let back: Endpoint =
                serde_json::from_slice(&json).expect("a stored endpoint reads back");
            assert_eq!(back, endpoint, "stored endpoint changed on the way back");
            let shown = endpoint.to_string();
            let _ = Endpoint::parse(&shown);
            shown
        }
        Err(e) => e.to_string(),
    }
}

/// The URL's password as the `url` crate reads it, when it appears once in the input (so
/// that it can be told apart from the rest) and is long enough to mean something.
fn password_of(text: &str) -> Option<String> {
    url::Url::parse(text)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        .filter(|p| p.len() >= 3 && text.matches(p.as_str()).count() == 1)
}
