//! `schemas/` holds the JSON Schema of every API body, event and manifest, generated from
//! the types. This test fails when a type changed and the files were not regenerated:
//! run `CAIRN_BLESS=1 cargo test -p cairn-domain --test schemas` and commit the result.

use std::path::PathBuf;

#[test]
fn schemas_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let bless = std::env::var_os("CAIRN_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, schema) in cairn_domain::api::schema_documents() {
        let path = dir.join(format!("{name}.json"));
        let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(stale.is_empty(), "stale schemas (regenerate with CAIRN_BLESS=1 cargo test -p cairn-domain --test schemas): {stale:?}");
}
