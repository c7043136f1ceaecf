//! `bluehelm run --config node.toml`: one node, until Ctrl-C or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use super::out::outln;
use anyhow::Context;
use bluehelm::{Node, NodeConfig};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The node's TOML config (see docs/operations.md and docs/examples/).
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = NodeConfig::load(&args.config)?;
    runtime()?.block_on(async {
        let node = Node::start(config)
            .await
            .with_context(|| format!("cannot start the node of {}", args.config.display()))?;
        // Harnesses and operators wait for this line.
        match node.local_addr() {
            Some(addr) => outln!("node {} listening on {addr}", node.core().me)?,
            None => outln!("node {} running", node.core().me)?,
        }
        wait_for_stop_signal().await;
        node.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
