//! `bluehelm run --config node.toml`: one node, until Ctrl-C or SIGTERM; SIGHUP reloads its
//! config (issue 15, item 3).

use std::path::PathBuf;
use std::process::ExitCode;

use super::out::outln;
use anyhow::Context;
use bluehelm::{Node, NodeConfig};
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The node's TOML config (see docs/operations.md and docs/examples/).
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = NodeConfig::load(&args.config)?;
    // Whatever this process writes (sled's own files too) is for the node's user only.
    bluehelm::store::private::make_new_files_private();
    let runtime = runtime()?;
    let outcome = runtime.block_on(async {
        // Listening for SIGTERM before the "listening on" line: a supervisor may stop the
        // node as soon as it sees it; and a stop while starting (a long log replay, a stuck
        // disk) ends the start instead of waiting for it.
        let stop = wait_for_stop_signal();
        tokio::pin!(stop);
        // SIGHUP's default action ends the process: caught from here on, a hangup during the
        // start waits and reloads once the node runs (issue 15, item 3).
        let mut hangup = signal(SignalKind::hangup()).ok();
        let node = tokio::select! {
            started = Node::start(config) => started
                .with_context(|| format!("cannot start the node of {}", args.config.display()))?,
            () = &mut stop => anyhow::bail!(
                "stopped while starting: the node of {} did not start",
                args.config.display()
            ),
        };
        // Harnesses and operators wait for this line.
        match node.local_addr() {
            Some(addr) => outln!("node {} listening on {addr}", node.bureau().me())?,
            None => outln!("node {} running", node.bureau().me())?,
        }
        loop {
            tokio::select! {
                () = &mut stop => break,
                () = next_signal(hangup.as_mut()) => {
                    // The node's reload task logs what changed, or why it refused.
                    let _ = node.reload().await;
                }
            }
        }
        // A store that had failed, or did not close in time: exit non-zero, so that a
        // supervisor and the operator see it (docs/operations.md, "Stopping").
        node.stop()
            .await
            .context("the node stopped, but its store did not close cleanly")?;
        Ok(ExitCode::SUCCESS)
    });
    // Bounded: a start given up may leave a store thread blocked on the disk.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Ctrl-C or SIGTERM, caught from the call on, not from the first poll.
pub fn wait_for_stop_signal() -> impl std::future::Future<Output = ()> {
    // Both handlers are installed now, not when the future is first polled: a signal that
    // arrives in between would otherwise kill the process with its default action.
    let mut term = signal(SignalKind::terminate()).ok();
    let mut interrupt = signal(SignalKind::interrupt()).ok();
    async move {
        tokio::select! {
            _ = next_signal(interrupt.as_mut()) => {}
            _ = next_signal(term.as_mut()) => {}
        }
    }
}

/// The next delivery of `signal`; never, if its handler could not be installed.
async fn next_signal(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
