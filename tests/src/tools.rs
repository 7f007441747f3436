//! Tools the suites run that are not Rust: the project-local Python venv that
//! `scripts/test` fills (`.tools/venv`: prometheus_client, schemathesis) and Debian's
//! `promtool`. A missing tool fails the test, naming how to install it.

use std::path::PathBuf;

/// The venv: `CAIRN_TOOLS_VENV`, else `<repo>/.tools/venv`.
pub fn venv() -> PathBuf {
    std::env::var_os("CAIRN_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".tools/venv"))
}

/// A program of the venv (`python`, `st`), which must exist.
#[track_caller]
pub fn venv_bin(name: &str) -> PathBuf {
    let bin = venv().join("bin").join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/test once (it creates the venv with `python3 -m venv \
         .tools/venv && .tools/venv/bin/pip install prometheus_client schemathesis`), or \
         point CAIRN_TOOLS_VENV at such a venv",
        bin.display()
    );
    bin
}

/// Debian's `promtool` (package `prometheus`), which must be on PATH.
#[track_caller]
pub fn promtool() -> PathBuf {
    assert!(
        crate::util::have("promtool"),
        "promtool is missing: `apt-get install --no-install-recommends prometheus` (scripts/test \
         does it)"
    );
    PathBuf::from("promtool")
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}
