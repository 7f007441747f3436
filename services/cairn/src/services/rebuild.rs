//! `cairn-scheduler rebuild --from-stream`: a new ledger from `CAIRN_EVENTS`.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Read the events from the CAIRN_EVENTS stream (the only source there is).
    #[arg(long, required = true)]
    pub from_stream: bool,
    /// The new data directory (must not hold a ledger yet).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The NATS server holding CAIRN_EVENTS.
    #[arg(long, value_name = "URL", env = "CAIRN_NATS")]
    pub nats: String,
}

pub async fn run(_args: RebuildArgs) -> anyhow::Result<()> {
    anyhow::bail!("rebuild --from-stream is not implemented yet")
}
