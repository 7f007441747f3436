//! Where `cairn`'s logs go. Logs go to stderr, so stdout stays clean for output (and for
//! `--json`).
//!
//! Client commands log warnings only. `cairn up` logs everything from `info` to a
//! `--log-file` when given one, and to stderr only warnings and its own few lines (the
//! start-up line, the admin token's place, the stop) when stderr is a terminal or a log
//! file takes the rest, so a server started in the background of a shell does not flood
//! it. Otherwise (a service manager, a container) stderr gets every `info` line.
//! `--log-level` or else `RUST_LOG` overrides the level of the full log.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// What stderr shows of a server when a terminal or a log file is there.
const TERSE: &str = "warn,cairn::up=info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// How `cairn` logs, decided from its flags.
#[derive(Debug, Default)]
pub struct LogOptions<'a> {
    pub server: bool,
    pub file: Option<&'a Path>,
    pub level: Option<&'a str>,
    pub format: LogFormat,
}

type BoxedLayer = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

fn layer<W>(writer: W, ansi: bool, format: LogFormat) -> BoxedLayer
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer().with_writer(writer).with_ansi(ansi).boxed(),
        LogFormat::Json => fmt::layer().json().with_writer(writer).boxed(),
    }
}

/// Installs the global subscriber. Fails (with a message for the operator) only when the
/// log file cannot be opened or the level does not parse.
pub fn init(options: LogOptions<'_>) -> Result<(), String> {
    let tty = std::io::stderr().is_terminal();
    let full = || -> Result<EnvFilter, String> {
        match options.level {
            Some(level) => EnvFilter::try_new(level).map_err(|e| {
                format!("--log-level {level:?} is not a level: {e}; use error, warn, info, debug or trace (or a RUST_LOG-style filter)")
            }),
            None => Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                EnvFilter::new(if options.server { "info" } else { "warn" })
            })),
        }
    };
    let explicit = options.level.is_some() || std::env::var_os("RUST_LOG").is_some();
    let stderr_filter = if options.server && (options.file.is_some() || (tty && !explicit)) {
        EnvFilter::new(TERSE)
    } else {
        full()?
    };
    let mut layers = vec![layer(std::io::stderr, tty, options.format)
        .with_filter(stderr_filter)
        .boxed()];
    let file = match options.file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    format!(
                        "cannot open the log file {}: {e}; choose a writable --log-file path",
                        path.display()
                    )
                })?;
            Some(
                layer(Mutex::new(file), false, options.format)
                    .with_filter(full()?)
                    .boxed(),
            )
        }
        None => None,
    };
    layers.extend(file);
    tracing_subscriber::registry().with(layers).init();
    Ok(())
}
