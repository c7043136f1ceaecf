//! `bluehelm queue list|show|purge --hop ID [--precedence P]`: queues an operator can inspect
//! (issue 15, item 4). See `api/queues.rs` and docs/operations.md ("Queues").

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use bluehelm::api::pb;
use bluehelm::custody::now_ms;
use bluehelm::human_time::local_from_ms;

use super::bureau::{self, input, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum QueueCommand {
    /// The messages queued for a next hop, in the order they will be sent; without --hop,
    /// the depth of every hop's queue per precedence.
    #[command(
        after_help = "Examples:\n  bluehelm queue list --config gs.toml --hop mission.unmiss\n  bluehelm queue list --config gs.toml --hop mission.unmiss --precedence routine --limit 20 --json\n  bluehelm queue list --config gs.toml"
    )]
    List(ListArgs),
    /// One queued message's headers (never its body).
    #[command(
        after_help = "Example:\n  bluehelm queue show --config gs.toml --hop mission.unmiss 0193a1b2c3d4e5f60718293a4b5c6d7e"
    )]
    Show(ShowArgs),
    /// Give up every message queued for a next hop (of one precedence, with --precedence):
    /// each origin gets a non-delivery report. Asks to type the hop id, or --yes.
    #[command(
        after_help = "Examples:\n  bluehelm queue purge --config gs.toml --hop mission.unmiss --precedence routine\n  bluehelm queue purge --config gs.toml --hop mission.unmiss --yes"
    )]
    Purge(PurgeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The next hop whose queue to list.
    #[arg(long, value_name = "ID")]
    pub hop: Option<String>,
    /// Only this precedence: flash, immediate, priority or routine.
    #[arg(long, value_name = "P")]
    pub precedence: Option<String>,
    /// List at most N messages (the total is shown all the same; at most 10000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: u32,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The next hop it is queued for.
    #[arg(long, value_name = "ID")]
    pub hop: String,
    /// The message id (from `bluehelm queue list`).
    pub message_id: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The next hop whose queue to purge.
    #[arg(long, value_name = "ID")]
    pub hop: String,
    /// Only this precedence: flash, immediate, priority or routine.
    #[arg(long, value_name = "P")]
    pub precedence: Option<String>,
    /// Purge without asking (for scripts). Without it, purge asks on a terminal, and
    /// refuses when standard input is not one.
    #[arg(long)]
    pub yes: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

fn precedence(text: Option<&str>) -> Result<i32, bureau::Failure> {
    text.map_or(Ok(0), bureau::precedence)
}

fn precedence_word(wire: i32) -> String {
    pb::Precedence::try_from(wire)
        .map(|p| {
            p.as_str_name()
                .trim_start_matches("PRECEDENCE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| wire.to_string())
}

/// A wait in words: "45s", "12m 3s", "5h 2m", "3d 4h".
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

fn line(copy: &pb::QueuedCopy, now: i64) -> String {
    format!(
        "{:<9} {}  {} from {} to {}, waiting {}, expires {}",
        precedence_word(copy.precedence),
        copy.message_id,
        copy.kind,
        copy.origin,
        copy.destination,
        age(now - copy.queued_at_ms),
        local_from_ms(copy.expires_at_ms)
    )
}

fn depth_line(d: &pb::HopDepth) -> String {
    format!(
        "{}: flash {}, immediate {}, priority {}, routine {}",
        d.hop, d.flash, d.immediate, d.priority, d.routine
    )
}

/// Asks on the terminal to type the hop id; whether the operator did. Refuses (an error)
/// when standard input is not a terminal: a script must say `--yes`.
fn confirmed(count: u64, hop: &str, scope: &str) -> Result<bool, bureau::Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(input(format!(
            "not purged: standard input is not a terminal, so purge cannot ask; give --yes to purge {count} {scope}message(s) queued for {hop}"
        )));
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "purge {count} {scope}messages queued for {hop}? type the hop id to confirm: "
    );
    let _ = err.flush();
    let mut answer = String::new();
    stdin
        .lock()
        .read_line(&mut answer)
        .map_err(|e| input(format!("cannot read the answer: {e}")))?;
    Ok(answer.trim() == hop)
}

pub fn run(args: QueueArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        match args.command {
            QueueCommand::List(a) => {
                let precedence = precedence(a.precedence.as_deref())?;
                let mut client = a.node.connect().await?;
                let list = client
                    .queue_list(pb::QueueListRequest {
                        hop: a.hop.clone().unwrap_or_default(),
                        precedence,
                        limit: a.limit,
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&list))?;
                    return Ok(());
                }
                if a.hop.is_none() {
                    if list.hops.is_empty() {
                        outln!("no message queued")?;
                    }
                    for d in &list.hops {
                        outln!("{}", depth_line(d))?;
                    }
                    return Ok(());
                }
                let now = now_ms();
                for copy in &list.copies {
                    outln!("{}", line(copy, now))?;
                }
                outln!(
                    "{} of {} message(s) queued for {} shown",
                    list.copies.len(),
                    list.total,
                    list.hop
                )?;
            }
            QueueCommand::Show(a) => {
                let mut client = a.node.connect().await?;
                let copy = client
                    .queue_show(pb::QueueShowRequest {
                        hop: a.hop.clone(),
                        message_id: a.message_id.clone(),
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&copy))?;
                    return Ok(());
                }
                let now = now_ms();
                outln!("message:     {}", copy.message_id)?;
                outln!("kind:        {}", copy.kind)?;
                if !copy.subject_line.is_empty() {
                    outln!("subject:     {}", copy.subject_line)?;
                }
                outln!("origin:      {}", copy.origin)?;
                outln!("destination: {}", copy.destination)?;
                outln!("next hop:    {}", a.hop)?;
                outln!("precedence:  {}", precedence_word(copy.precedence))?;
                outln!("created:     {}", local_from_ms(copy.created_at_ms))?;
                outln!(
                    "queued:      {} (waiting {})",
                    local_from_ms(copy.queued_at_ms),
                    age(now - copy.queued_at_ms)
                )?;
                outln!("expires:     {}", local_from_ms(copy.expires_at_ms))?;
                outln!("hops so far: {}", copy.hops)?;
                outln!("size:        {} bytes", copy.size)?;
            }
            QueueCommand::Purge(a) => {
                let precedence = precedence(a.precedence.as_deref())?;
                let mut client = a.node.connect().await?;
                if !a.yes {
                    let count = client
                        .queue_list(pb::QueueListRequest {
                            hop: a.hop.clone(),
                            precedence,
                            limit: 1,
                        })
                        .await
                        .map_err(bureau::from_status)?
                        .into_inner()
                        .total;
                    let scope = match precedence {
                        0 => String::new(),
                        p => format!("{} ", precedence_word(p)),
                    };
                    if !confirmed(count, &a.hop, &scope)? {
                        return Err(input(format!("not purged: the answer was not {}", a.hop)));
                    }
                }
                let purged = client
                    .queue_purge(pb::QueuePurgeRequest {
                        hop: a.hop.clone(),
                        precedence,
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&purged))?;
                } else {
                    outln!(
                        "purged {} message(s) queued for {}; {} non-delivery report(s) sent to their origins",
                        purged.purged,
                        a.hop,
                        purged.reports
                    )?;
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn ages_read_in_the_largest_units() {
        assert_eq!(age(45_000), "45s");
        assert_eq!(age(723_000), "12m 3s");
        assert_eq!(age(5 * 3_600_000 + 120_000), "5h 2m");
        assert_eq!(age(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(age(-5), "0s");
    }
}
