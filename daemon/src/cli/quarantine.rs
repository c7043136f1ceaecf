//! `bluehelm quarantine add --node X --since T | list | show ID | release ID | drop ID`: the
//! operator's side of quarantine for an overrun post (issue 14, item 3). See
//! `api/quarantine.rs` and docs/operations.md.

use std::process::ExitCode;

use bluehelm::api::pb;
use bluehelm::human_time::local_from_ms;

use super::bureau::{self, input, NodeArgs};
use super::out::outln;

#[derive(Debug, clap::Args)]
pub struct QuarantineArgs {
    #[command(subcommand)]
    pub command: QuarantineCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Node X is compromised since T: hold its messages created since then (at gs, also
    /// warn every node it knows).
    #[command(
        after_help = "Example:\n  bluehelm quarantine add --config gs.toml --node mission.unmiss --since 2026-11-28T14:00:00Z"
    )]
    Add(AddArgs),
    /// The rules, the copies held, and the messages read already that a rule catches.
    #[command(after_help = "Example:\n  bluehelm quarantine list --config ncb.fr.toml --json")]
    List(ListArgs),
    /// One held copy.
    #[command(after_help = "Example:\n  bluehelm quarantine show 42 --config ncb.fr.toml")]
    Show(IdArgs),
    /// Put a held copy back where it was going (its queue or the inbox).
    #[command(after_help = "Example:\n  bluehelm quarantine release 42 --config ncb.fr.toml")]
    Release(IdArgs),
    /// Delete a held copy.
    #[command(after_help = "Example:\n  bluehelm quarantine drop 42 --config ncb.fr.toml")]
    Drop(IdArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The compromised node.
    #[arg(long = "node", value_name = "ID")]
    pub compromised: String,
    /// Since when: RFC 3339 with an offset, e.g. 2026-11-28T14:00:00Z.
    #[arg(long, value_name = "TIME")]
    pub since: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct IdArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// The held copy's number (from `bluehelm quarantine list`).
    pub id: u64,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// An RFC 3339 time with an offset, as Unix ms. A time without an offset is refused: the
/// operator's zone is a guess.
fn parse_since(text: &str) -> Result<i64, bureau::Failure> {
    let t: jiff::Timestamp = text.trim().parse().map_err(|e| {
        input(format!(
            "invalid --since `{text}` ({e}): give an RFC 3339 time with an offset, e.g. 2026-11-28T14:00:00Z"
        ))
    })?;
    Ok(t.as_millisecond())
}

fn line(copy: &pb::QuarantinedCopy) -> String {
    let held_for = if copy.held_for == "inbox" {
        "the inbox".to_owned()
    } else {
        format!("the queue for {}", copy.held_for)
    };
    format!(
        "{}  {} {} from {} to {}, created {}, was for {}",
        copy.id,
        copy.kind,
        copy.message_id,
        copy.origin,
        copy.destination,
        local_from_ms(copy.created_at_ms),
        held_for
    )
}

fn print_copy(copy: &pb::QuarantinedCopy, json: bool, done: &str) -> Result<(), bureau::Failure> {
    if json {
        outln!("{}", bureau::to_json(copy))?;
    } else {
        outln!("{done}{}", line(copy))?;
    }
    Ok(())
}

pub fn run(args: QuarantineArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        match args.command {
            QuarantineCommand::Add(a) => {
                let since_ms = parse_since(&a.since)?;
                let mut client = a.node.connect().await?;
                let answer = client
                    .quarantine_add(pb::QuarantineRule {
                        node: a.compromised.clone(),
                        since_ms,
                    })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&answer))?;
                } else {
                    outln!(
                        "quarantine: messages from {} created since {} are held; {} held now",
                        a.compromised,
                        local_from_ms(since_ms),
                        answer.held
                    )?;
                    if !answer.warned.is_empty() {
                        outln!("warned: {}", answer.warned.join(", "))?;
                    }
                }
            }
            QuarantineCommand::List(a) => {
                let mut client = a.node.connect().await?;
                let list = client
                    .quarantine_list(pb::QuarantineListRequest {})
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                if a.json {
                    outln!("{}", bureau::to_json(&list))?;
                    return Ok(());
                }
                if list.rules.is_empty() {
                    outln!("no quarantine rule")?;
                }
                for rule in &list.rules {
                    outln!(
                        "rule: {} compromised since {}",
                        rule.node,
                        local_from_ms(rule.since_ms)
                    )?;
                }
                if list.held.is_empty() && !list.rules.is_empty() {
                    outln!("nothing held")?;
                }
                for copy in &list.held {
                    outln!("held {}", line(copy))?;
                }
                for read in &list.already_read {
                    outln!(
                        "already read: {} {} from {}, created {}, read {}",
                        read.kind,
                        read.message_id,
                        read.origin,
                        local_from_ms(read.created_at_ms),
                        local_from_ms(read.read_at_ms)
                    )?;
                }
            }
            QuarantineCommand::Show(a) => {
                let mut client = a.node.connect().await?;
                let copy = client
                    .quarantine_show(pb::QuarantineId { id: a.id })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                print_copy(&copy, a.json, "")?;
                if !a.json {
                    outln!("  expires {}", local_from_ms(copy.expires_at_ms))?;
                }
            }
            QuarantineCommand::Release(a) => {
                let mut client = a.node.connect().await?;
                let copy = client
                    .quarantine_release(pb::QuarantineId { id: a.id })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                print_copy(&copy, a.json, "released ")?;
            }
            QuarantineCommand::Drop(a) => {
                let mut client = a.node.connect().await?;
                let copy = client
                    .quarantine_drop(pb::QuarantineId { id: a.id })
                    .await
                    .map_err(bureau::from_status)?
                    .into_inner();
                print_copy(&copy, a.json, "dropped ")?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_since;

    #[test]
    fn since_needs_an_offset() {
        assert_eq!(
            parse_since("2026-11-28T15:00:00+01:00").ok(),
            Some(1_795_874_400_000)
        );
        assert_eq!(
            parse_since("2026-11-28T14:00:00Z").ok(),
            Some(1_795_874_400_000)
        );
        assert!(parse_since("2026-11-28T14:00:00").is_err());
        assert!(parse_since("yesterday").is_err());
    }
}
