//! `bluehelm status [--json] [--max-age SECONDS]`: whether the node's certificate is
//! revoked, readiness, the CRL in force, links, queues per next hop and precedence, traffic
//! by precedence, store size, replica lag and counters: the figures `/metrics` serves. Exits
//! 8 (`Exit::Unhealthy`) when a configured peer is down, a queue's oldest copy is older than
//! `--max-age`, or the node is not ready; the reasons go to stderr.

use std::process::ExitCode;

use bluehelm::api::pb;

use super::bureau::{self, Exit, Failure, NodeArgs};
use super::out::outln;

/// Default `--max-age`: five minutes. A FLASH message should move in seconds; a copy that has
/// waited this long means a link or a peer is stuck, not merely busy.
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 300;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
    /// Exit 8 when a queue's oldest message has waited longer than this (seconds).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MAX_AGE_SECONDS)]
    pub max_age: u64,
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
        } else {
            print(&status)?;
        }
        let problems = problems(&status, args.max_age);
        if problems.is_empty() {
            return Ok(());
        }
        // The figures are printed; the reasons, one line each but the last, go to stderr
        // before the one-line failure.
        let (last, others) = problems.split_last().expect("not empty: checked above");
        for problem in others {
            eprintln!("unhealthy: {problem}");
        }
        Err(bureau::fail(Exit::Unhealthy, format!("unhealthy: {last}")))
    })
}

/// Why `status` exits non-zero; empty when all is well.
fn problems(status: &pb::StatusResponse, max_age_s: u64) -> Vec<String> {
    let mut problems: Vec<String> = status
        .links
        .iter()
        .filter(|l| l.configured && !l.connected)
        .map(|l| format!("configured peer {} is down", l.peer))
        .collect();
    for q in &status.queues {
        if q.oldest_age_ms > max_age_s.saturating_mul(1000) {
            problems.push(format!(
                "the oldest copy queued for {} has waited {:.0} s (--max-age {max_age_s})",
                q.next_hop,
                q.oldest_age_ms as f64 / 1000.0
            ));
        }
    }
    problems.extend(status.not_ready.iter().map(|r| format!("not ready: {r}")));
    problems
}

fn print(status: &pb::StatusResponse) -> Result<(), Failure> {
    outln!("node {}", status.node_id)?;
    if !status.certificate_revoked.is_empty() {
        outln!("CERTIFICATE REVOKED: {}", status.certificate_revoked)?;
    }
    if status.ready {
        outln!("ready: yes")?;
    } else {
        outln!("ready: NO")?;
        for reason in &status.not_ready {
            outln!("  {reason}")?;
        }
    }
    match status.crl_next_update {
        0 => outln!("crl: number {}", status.crl_number)?,
        next => outln!(
            "crl: number {}, next update {}",
            status.crl_number,
            bluehelm::human_time::local_from_secs(next)
        )?,
    }
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
    let failures: Vec<String> = status
        .handshake_failures
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(why, n)| format!("{why} {n}"))
        .collect();
    if !failures.is_empty() {
        outln!("handshake failures: {}", failures.join(", "))?;
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
        for c in &q.classes {
            outln!(
                "    {:<22} {} waiting, oldest {:.1} s",
                c.precedence,
                c.depth,
                c.oldest_age_ms as f64 / 1000.0
            )?;
        }
    }
    outln!("inbox: {} message(s)", status.inbox_size)?;
    outln!(
        "{:<12} {:>10} {:>10} {:>10}",
        "traffic:",
        "in",
        "out",
        "refused"
    )?;
    for t in &status.traffic {
        outln!(
            "  {:<10} {:>10} {:>10} {:>10}",
            t.precedence,
            t.messages_in,
            t.messages_out,
            t.refused
        )?;
    }
    for (name, h) in [
        ("custody latency", &status.custody_latency),
        ("fsync latency", &status.fsync_latency),
    ] {
        if let Some(h) = h.as_ref().filter(|h| h.count > 0) {
            outln!(
                "{name}: mean {:.2} ms over {}",
                h.sum_seconds * 1000.0 / h.count as f64,
                h.count
            )?;
        }
    }
    let free = status
        .disk_free_bytes
        .map(|free| format!(", {:.0} MiB free on its disk", free as f64 / 1048576.0))
        .unwrap_or_default();
    outln!(
        "store: {:.1} MiB on disk{free}",
        status.store_bytes as f64 / 1048576.0
    )?;
    for r in &status.replicas {
        let behind = match r.lag_ms {
            ms if ms < 0 => "not yet level with the hub".to_owned(),
            ms => format!("last level {:.0} s ago", ms as f64 / 1000.0),
        };
        outln!(
            "replica {}: {} change(s) behind, {behind}",
            r.database,
            r.lag_changes
        )?;
    }
    if let Some(n) = status.review_queue {
        outln!("review queue: {n} request(s)")?;
    }
    for hop in &status.failed_over {
        outln!("failover: {hop} given up as silent; its routes' traffic goes to their alternates")?;
    }
    outln!("counters:")?;
    for (name, value) in &status.counters {
        outln!("  {name:<24} {value}")?;
    }
    Ok(())
}
