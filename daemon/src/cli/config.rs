//! `bluehelm config check FILE`: validates a node's config exactly as `bluehelm run` does
//! before it opens its store or binds a socket (issue 15, item 3): the file itself, then the
//! certificate, key, CA and CRL files it names (`bluehelm::node::check_config`). Peer
//! addresses given as DNS names that do not resolve now are warnings: the node resolves them
//! at each dial.
//!
//! Exit codes: 0 the config is good (warnings may have been printed); 1 it is not, each
//! error on stderr; 2 usage error (from the argument parser).

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::process::ExitCode;

use bluehelm::config::PeerAddress;
use bluehelm::NodeConfig;

use super::out::outln;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Check a node's config without starting the node: the file, and the certificate,
    /// key, CA and CRL files it names.
    #[command(after_help = "Example:\n  bluehelm config check /etc/bluehelm/ncb.fr.toml")]
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The node's TOML config.
    pub file: PathBuf,
}

pub fn run(command: ConfigCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check(args) => check(&args.file),
    }
}

fn check(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = match NodeConfig::load(file) {
        Ok(config) => config,
        Err(err) => return Ok(refused(file, &anyhow::Error::from(err))),
    };
    if let Err(err) = bluehelm::node::check_config(&config) {
        return Ok(refused(file, &anyhow::Error::from(err)));
    }
    for (i, peer) in config.peers.iter().enumerate() {
        if let Some(PeerAddress::Name { host, port }) = &peer.address {
            let resolved = (host.as_str(), *port)
                .to_socket_addrs()
                .map(|mut addrs| addrs.next().is_some());
            match resolved {
                Ok(true) => {}
                Ok(false) => eprintln!(
                    "warning: peers[{i}].address {host}:{port} ({}) resolves to no address now; the node resolves it again at each dial",
                    peer.node
                ),
                Err(e) => eprintln!(
                    "warning: peers[{i}].address {host}:{port} ({}) does not resolve now ({e}); the node resolves it again at each dial",
                    peer.node
                ),
            }
        }
    }
    let dialled = config.peers.iter().filter(|p| p.address.is_some()).count();
    let listen = config.listen.map_or_else(
        || "not listening".to_owned(),
        |a| format!("listening on {a}"),
    );
    outln!(
        "ok: {}, {} peers ({} dialled), {} routes, {}",
        config.node_id,
        config.peers.len(),
        dialled,
        config.routing.routes.len(),
        listen
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Prints why `file` cannot be used, with every cause, and returns exit code 1.
fn refused(file: &std::path::Path, err: &anyhow::Error) -> ExitCode {
    eprintln!("error: {}: {err:#}", file.display());
    ExitCode::from(1)
}
