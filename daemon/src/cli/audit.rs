//! `bluehelm audit verify|trace|queries --config node.toml`: reads the node's audit log from
//! its storage directory (the node may be running: the log is only appended to).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use bluehelm::audit::{self, ReadError};
use bluehelm::config::NodeConfig;
use bluehelm::engine::audit::{Entry, Event};
use bluehelm::human_time::local_from_ms;

use super::out::outln;

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the log's hash chain and the node's signed checkpoints: finds an edited,
    /// removed, inserted or reordered entry, and a log cut or rewritten behind a checkpoint.
    /// Exits 1 and says where when it finds one.
    #[command(
        after_help = "Examples:\n  bluehelm audit verify --config ncb.fr.toml\n  bluehelm audit verify --config ncb.fr.toml --checkpoints gs-copy/audit-checkpoints-ncb.fr.log"
    )]
    Verify {
        /// The node's config file (its storage directory holds the log).
        #[arg(long)]
        config: PathBuf,
        /// More signed checkpoints of this node to hold the log to, e.g. the copies gs kept
        /// (`<gs storage>/audit-checkpoints-<node>.log`). Repeatable.
        #[arg(long = "checkpoints", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// What this node did with a message: every entry with its id.
    #[command(
        after_help = "Example:\n  bluehelm audit trace 01a238fd890d575ac054607735b134af --config gs.toml"
    )]
    Trace {
        /// The message id (hex, as `send` and `inbox` print it).
        message_id: String,
        /// The node's config file (its storage directory holds the log).
        #[arg(long)]
        config: PathBuf,
        /// Print as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Who queried a bureau's records at this node (gs, or a replica that answered locally).
    #[command(after_help = "Example:\n  bluehelm audit queries --owner ncb.fr --config gs.toml")]
    Queries {
        /// The bureau whose records matched.
        #[arg(long)]
        owner: String,
        /// The node's config file (its storage directory holds the log).
        #[arg(long)]
        config: PathBuf,
        /// Print as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify {
            config,
            checkpoints,
            json,
        } => verify(&load(&config)?, &checkpoints, json),
        AuditCommand::Trace {
            message_id,
            config,
            json,
        } => {
            let id = message_id.trim().to_ascii_lowercase();
            list(&load(&config)?, json, |e| e.message_id == id)
        }
        AuditCommand::Queries {
            owner,
            config,
            json,
        } => list(&load(&config)?, json, |e| {
            e.event == Event::Queried && e.owner == owner
        }),
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<NodeConfig> {
    NodeConfig::load(path).with_context(|| format!("cannot use config {}", path.display()))
}

fn verify(config: &NodeConfig, more: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let node = config.node_id.as_str();
    match audit::verify_log(&config.storage, node, &config.tls.ca, more) {
        Ok(found) => {
            if json {
                let latest = found
                    .latest
                    .map(|c| serde_json::json!({"seq": c.seq, "at_ms": c.at_ms}));
                outln!(
                    "{}",
                    serde_json::json!({
                        "node": node, "ok": true, "entries": found.entries,
                        "first_entry": found.first,
                        "checkpoints": found.checkpoints, "latest_checkpoint": latest,
                    })
                )?;
            } else {
                let latest = found.latest.map_or_else(
                    || "no signed checkpoint yet".to_owned(),
                    |c| {
                        format!(
                            "latest checkpoint: entry {} at {}",
                            c.seq,
                            local_from_ms(c.at_ms)
                        )
                    },
                );
                let span = if found.first > 1 {
                    format!(
                        "entries {} to {} (the files before were moved away)",
                        found.first, found.entries
                    )
                } else {
                    format!("{} entries", found.entries)
                };
                outln!(
                    "audit log of {node}: intact, {span}, {} signed checkpoint(s) hold; {latest}",
                    found.checkpoints
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(
            err @ (ReadError::Tampered { .. }
            | ReadError::Checkpoint { .. }
            | ReadError::Unanchored { .. }),
        ) => {
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"node": node, "ok": false, "problem": err.to_string()})
                )?;
            }
            eprintln!("audit log of {node} does NOT verify: {err}");
            Ok(ExitCode::FAILURE)
        }
        Err(err) => Err(err.into()),
    }
}

fn list(
    config: &NodeConfig,
    json: bool,
    keep: impl Fn(&Entry) -> bool,
) -> anyhow::Result<ExitCode> {
    let mut found = 0;
    for entry in audit::entries(&config.storage)? {
        let entry = entry?;
        if !keep(&entry) {
            continue;
        }
        found += 1;
        if json {
            outln!("{}", serde_json::to_string(&entry)?)?;
        } else {
            outln!("{}", describe(&entry))?;
        }
    }
    if found == 0 && !json {
        outln!("(no entries)")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line for people.
fn describe(e: &Entry) -> String {
    let mut line = format!(
        "{:>8}  {}  {:<11}",
        e.seq,
        local_from_ms(e.at_ms),
        format!("{:?}", e.event).to_lowercase()
    );
    for (name, value) in [
        ("id", &e.message_id),
        ("origin", &e.origin),
        ("to", &e.destination),
        ("kind", &e.kind),
        ("terminal", &e.terminal),
        ("owner", &e.owner),
    ] {
        if !value.is_empty() {
            line.push_str(&format!("  {name}={value}"));
        }
    }
    if !e.decision.is_empty() {
        line.push_str(&format!("  {}", e.decision));
    }
    if !e.rule.is_empty() {
        line.push_str(&format!(" [{}]", e.rule));
    }
    line
}
