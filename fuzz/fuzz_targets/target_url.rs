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
    let password = url::Url::parse(text)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
        // Only a password that appears nowhere else in the input can be looked for.
        .filter(|p| p.len() >= 3 && text.matches(p.as_str()).count() == 1);
    match Endpoint::parse(text) {
        Ok(endpoint) => {
            let json = serde_json::to_vec(&endpoint).expect("an endpoint serializes");
            let back: Endpoint =
                serde_json::from_slice(&json).expect("a stored endpoint reads back");
            assert_eq!(back, endpoint, "stored endpoint changed on the way back");
            let shown = endpoint.to_string();
            let _ = Endpoint::parse(&shown);
            if let Some(p) = &password {
                assert!(!shown.contains(p.as_str()), "password shown in {shown:?}");
            }
        }
        Err(e) => {
            let message = e.to_string();
            if let Some(p) = &password {
                assert!(!message.contains(p.as_str()), "password echoed: {message}");
            }
        }
    }
});
