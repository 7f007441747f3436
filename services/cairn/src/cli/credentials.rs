//! Which API token the CLI presents, in this order: `--token`, `CAIRN_TOKEN`,
//! `--token-file` (`CAIRN_TOKEN_FILE`), and otherwise, when talking to the default local
//! server, the first admin token that `cairn up` wrote to `./cairn-data/admin.token`
//! (`$CAIRN_DATA_DIR/admin.token` when that is set). The token never appears in a message.

use super::error::CliError;
use std::path::{Path, PathBuf};

/// The server the CLI talks to unless told otherwise (`cairn up`'s default).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7070";

/// A token and where it came from (for messages; never the token itself).
#[derive(Clone)]
pub struct Token {
    pub value: String,
    pub source: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(<redacted> from {})", self.source)
    }
}

/// The token to present, if any. `flag` holds `--token` or else `CAIRN_TOKEN` (clap reads
/// both into one value, the flag first); `file` holds `--token-file` or `CAIRN_TOKEN_FILE`.
pub fn resolve(
    server: &str,
    flag: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<Token>, CliError> {
    let data_dir = std::env::var_os("CAIRN_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./cairn-data"));
    resolve_with(server, flag, file, &data_dir)
}

/// [`resolve`] with `cairn up`'s default data directory given.
fn resolve_with(
    server: &str,
    flag: Option<String>,
    file: Option<PathBuf>,
    data_dir: &Path,
) -> Result<Option<Token>, CliError> {
    // An empty CAIRN_TOKEN (`CAIRN_TOKEN= cairn …`) counts as unset.
    if let Some(value) = flag.filter(|v| !v.trim().is_empty()) {
        return checked(value, "--token / CAIRN_TOKEN".to_string()).map(Some);
    }
    if let Some(path) = file {
        return read(&path).map(Some);
    }
    if server.trim_end_matches('/') != DEFAULT_SERVER {
        return Ok(None);
    }
    let path = data_dir.join("admin.token");
    if !path.exists() {
        return Ok(None);
    }
    read(&path).map(Some)
}

fn read(path: &Path) -> Result<Token, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!(
            "cannot read the token file {}: {e}; pass a readable file with --token-file PATH, \
             or the token in CAIRN_TOKEN",
            path.display()
        ))
    })?;
    checked(text, path.display().to_string())
}

/// Trims the line end; refuses text that cannot be a token (without echoing it).
fn checked(value: String, source: String) -> Result<Token, CliError> {
    let value = value.trim().to_string();
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CliError::usage(format!(
            "the token from {source} is {}; a cairn token is one word like cairn_…, \
             as printed by `cairn token create`",
            if value.is_empty() {
                "empty"
            } else {
                "not one word of printable ASCII"
            }
        )));
    }
    Ok(Token { value, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_file_then_the_local_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "cairn_fromfile\n").unwrap();
        let flag = resolve(
            DEFAULT_SERVER,
            Some("cairn_flag".into()),
            Some(file.clone()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(flag.value, "cairn_flag");
        let from_file = resolve("http://10.0.0.1:7070", None, Some(file))
            .unwrap()
            .unwrap();
        assert_eq!(from_file.value, "cairn_fromfile", "the line end is trimmed");
        assert!(resolve("http://10.0.0.1:7070", None, None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_default_server_uses_the_local_admin_token() {
        let dir = tempfile::tempdir().unwrap();
        let none = resolve_with(DEFAULT_SERVER, None, None, dir.path()).unwrap();
        assert!(none.is_none(), "no file, no token");
        std::fs::write(dir.path().join("admin.token"), "cairn_local").unwrap();
        let found = resolve_with(&format!("{DEFAULT_SERVER}/"), None, None, dir.path())
            .unwrap()
            .unwrap();
        assert_eq!(found.value, "cairn_local");
        assert!(found.source.ends_with("admin.token"));
        let elsewhere = resolve_with("http://127.0.0.1:7071", None, None, dir.path()).unwrap();
        assert!(elsewhere.is_none(), "only for the default server");
    }

    #[test]
    fn a_bad_token_is_refused_without_being_echoed() {
        let err = resolve(DEFAULT_SERVER, Some("two words-secret".into()), None).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let empty_file = dir.path().join("t");
        std::fs::write(&empty_file, "\n").unwrap();
        let empty = resolve(DEFAULT_SERVER, None, Some(empty_file.clone())).unwrap_err();
        assert!(empty.to_string().contains("empty"));
        let unset = resolve(DEFAULT_SERVER, Some(" ".into()), Some(empty_file)).unwrap_err();
        assert!(
            unset.to_string().contains("empty"),
            "an empty CAIRN_TOKEN counts as unset"
        );
        let missing = resolve(DEFAULT_SERVER, None, Some("/nonexistent/t".into())).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/t"));
    }
}
