//! Fuzzes the manifest reader: `manifest.json` bytes as storage reads them from a backup
//! folder (`Manifest::from_json`, which `ArtifactStore::manifest` calls). A folder's
//! content is untrusted: anyone who can write to a storage can place one. Checked beyond
//! "never panics": a manifest that was accepted, written back as storage writes it, reads
//! back equal.
#![no_main]

use cairn_domain::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(manifest) = Manifest::from_json(data) else {
        return;
    };
    let written = manifest.to_json().expect("an accepted manifest serializes");
    let again = Manifest::from_json(&written).expect("storage reads back what it wrote");
    assert_eq!(again, manifest, "manifest changed on a write/read cycle");
});
