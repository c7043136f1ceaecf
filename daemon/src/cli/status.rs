//! `bluehelm status [--json]`: whether the node's certificate is revoked, the CRL in force,
//! links, queues per next hop, inbox size and counters.

use std::process::ExitCode;

use bluehelm::api::pb;

use super::bureau::{self, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let mut client = args.node.connect().await?;
        let status = client
            .status(pb::StatusRequest {})
            .await
            .map_err(bureau::from_status)?
            .into_inner();
        if args.json {
            outln!("{}", bureau::to_json(&status))?;
            return Ok(());
        }
        outln!("node {}", status.node_id)?;
        if !status.certificate_revoked.is_empty() {
            outln!("CERTIFICATE REVOKED: {}", status.certificate_revoked)?;
        }
        outln!("crl: number {}", status.crl_number)?;
        outln!("links:")?;
        for link in &status.links {
            outln!(
                "  {:<24} {}{}",
                link.peer,
                if link.connected { "up" } else { "down" },
                if link.configured {
                    ""
                } else {
                    " (not in config)"
                }
            )?;
        }
        outln!("queues:")?;
        if status.queues.is_empty() {
            outln!("  (empty)")?;
        }
        for q in &status.queues {
            outln!(
                "  {:<24} {} waiting, oldest {:.1} s",
                q.next_hop,
                q.depth,
                q.oldest_age_ms as f64 / 1000.0
            )?;
        }
        outln!("inbox: {} message(s)", status.inbox_size)?;
        outln!("counters:")?;
        for (name, value) in &status.counters {
            outln!("  {name:<24} {value}")?;
        }
        Ok(())
    })
}
