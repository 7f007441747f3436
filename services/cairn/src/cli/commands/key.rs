//! `cairn key id|export|import`: the data directory's secret key, handled locally (no
//! server involved), for disaster recovery.
//!
//! The key seals target passwords and derives the key that signs backup manifests. A
//! fresh cairn that should restore an old server's backups without `--trust-unsigned`
//! needs the old key: `cairn key export --out FILE` on (or from a copy of) the old data
//! dir, `cairn key import FILE` into the new data dir before `cairn up` first starts
//! there (or set `CAIRN_SECRET_KEY`). See docs/disaster-recovery.md.

use crate::cli::error::{CliError, Outcome};
use crate::cli::output;
use crate::cli::{KeyExportArgs, KeyIdArgs, KeyImportArgs};
use anyhow::Context;
use cairn_keyring::{Keyring, KEY_ENV, KEY_FILE};
use std::io::{Read, Write};
use std::path::Path;

fn existing(data_dir: &Path) -> Result<Keyring, CliError> {
    Keyring::load(data_dir)
        .map_err(|e| CliError::usage(e.to_string()))?
        .ok_or_else(|| {
            CliError::usage(format!(
                "no secret key in {} (no {KEY_FILE}) and {KEY_ENV} is not set; point --data-dir at the data directory of the cairn whose key you want",
                data_dir.display()
            ))
        })
}

fn source(data_dir: &Path) -> String {
    if std::env::var_os(KEY_ENV).is_some() {
        format!("from {KEY_ENV}")
    } else {
        format!("from {}", data_dir.join(KEY_FILE).display())
    }
}

/// Prints the key id: public, it names the key that signed a backup (`signature.key_id`).
pub fn id(args: KeyIdArgs, json: bool) -> Result<Outcome, CliError> {
    let key = existing(&args.data_dir)?.signing_key();
    if json {
        output::json(&serde_json::json!({ "key_id": key.key_id() }))?;
    } else {
        output::line(key.key_id())?;
    }
    Ok(Outcome::Success)
}

pub fn export(args: KeyExportArgs) -> Result<Outcome, CliError> {
    let keyring = existing(&args.data_dir)?;
    let text = format!("{}\n", keyring.export_hex());
    if args.out.as_os_str() == "-" {
        std::io::stdout().write_all(text.as_bytes())?;
    } else {
        write_new_private(&args.out, text.as_bytes())?;
    }
    eprintln!(
        "exported the secret key {} (key id {}); keep the copy as safe as the data dir: whoever holds it can open sealed passwords and sign backups",
        source(&args.data_dir),
        keyring.signing_key().key_id()
    );
    Ok(Outcome::Success)
}

pub fn import(args: KeyImportArgs) -> Result<Outcome, CliError> {
    let mut text = String::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the key from stdin")?;
    } else {
        text = std::fs::read_to_string(&args.file)
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", args.file.display())))?;
    }
    let keyring = Keyring::from_hex(text.trim()).ok_or_else(|| {
        CliError::usage("the key must be 64 hex digits (as `cairn key export` writes it)")
    })?;
    let file = args.data_dir.join(KEY_FILE);
    if let Ok(Some(current)) = Keyring::load_file_only(&args.data_dir) {
        if current.export_hex() == keyring.export_hex() {
            eprintln!("{} already holds this key", file.display());
            return Ok(Outcome::Success);
        }
        if !args.replace {
            return Err(CliError::usage(format!(
                "{} already holds another key (key id {}); passwords sealed with it would no longer open and its backups would become foreign: rerun with --replace only if that data dir is not in use",
                file.display(),
                current.signing_key().key_id()
            )));
        }
    }
    std::fs::create_dir_all(&args.data_dir)
        .and_then(|()| keyring.install(&args.data_dir))
        .with_context(|| format!("writing {}", file.display()))?;
    eprintln!(
        "installed the key (key id {}) as {}; start (or restart) `cairn up --data-dir {}`",
        keyring.signing_key().key_id(),
        file.display(),
        args.data_dir.display()
    );
    if std::env::var_os(KEY_ENV).is_some() {
        eprintln!("note: {KEY_ENV} is set in this shell; a cairn started with it uses that key instead of the file");
    }
    Ok(Outcome::Success)
}

/// Creates `path` with mode 0600; refuses to overwrite anything.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            CliError::usage(format!(
                "cannot create {}: {e} (an existing file is never overwritten)",
                path.display()
            ))
        })?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}
