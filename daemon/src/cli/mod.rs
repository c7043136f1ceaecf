//! Subcommands of the `bluehelm` binary. `anyhow` lives here and in `main.rs` only.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod allocator;
mod audit;
mod bench;
mod bench_cpu;
mod bench_drain;
mod bench_fanout;
mod bench_figures;
mod bench_links;
mod bench_node;
mod bench_nominal;
mod bench_sync;
mod bureau;
mod config;
mod db;
mod demo;
#[cfg(test)]
mod help_tests;
mod inbox;
mod logging;
mod notices;
pub mod out;
mod pki;
mod progress;
mod quarantine;
mod queue;
mod reload;
mod request;
mod review;
mod run;
mod send;
mod status;

/// Bluehelm: a secure store-and-forward messaging relay for police cooperation.
#[derive(Debug, Parser)]
#[command(name = "bluehelm", version, about)]
pub struct Cli {
    /// More log output (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage the network's PKI: CA, node certificates, revocations and CRLs.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  bluehelm pki init-ca --out ca/\n  bluehelm pki issue --ca ca/ --node ncb.fr --role ncb --country FR --out certs/\n  bluehelm pki list --ca ca/\n  bluehelm pki show certs/ncb.fr.pem"
    )]
    Pki(pki::PkiCommand),
    /// Check a node's config file without starting the node.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  bluehelm config check /etc/bluehelm/ncb.fr.toml")]
    Config(config::ConfigCommand),
    /// Run a node from its config file.
    #[command(after_help = "Example:\n  bluehelm run --config /etc/bluehelm/ncb.fr.toml")]
    Run(run::RunArgs),
    /// Start a throwaway local network (hub, two NCBs, a mission post) and show traffic.
    #[command(after_help = "Examples:\n  bluehelm demo --once\n  bluehelm demo --dir demo-net/")]
    Demo(demo::DemoArgs),
    /// Measure throughput and latency: origin -> hub -> destination as separate processes.
    #[command(after_help = "Example:\n  bluehelm bench --scenario all --json")]
    Bench(bench::BenchArgs),
    /// Send a notice, diffusion or message through the node (local API).
    #[command(
        after_help = "Example:\n  bluehelm send message --config ncb.fr.toml --to ncb.ke --subject-line Liaison --body \"Call us at 14:00 UTC\""
    )]
    Send(Box<send::SendArgs>),
    /// Print (and follow, and acknowledge) the node's inbox.
    #[command(
        after_help = "Examples:\n  bluehelm inbox --config ncb.ke.toml\n  bluehelm inbox --config ncb.ke.toml --follow --json --ack"
    )]
    Inbox(inbox::InboxArgs),
    /// Ask a service (e.g. sltd.check) and wait for its answer.
    #[command(
        after_help = "Example:\n  bluehelm request sltd.check --config ncb.fr.toml --param document_number=X1234567 --param issuing_country=FR"
    )]
    Request(request::RequestArgs),
    /// The node's links, queues, inbox size and counters.
    #[command(
        after_help = "Examples:\n  bluehelm status --config ncb.fr.toml\n  bluehelm status --config ncb.fr.toml --json"
    )]
    Status(status::StatusArgs),
    /// Review notice requests at the general secretariat (gs): list, show, approve, refuse.
    #[command(
        after_help = "Examples:\n  bluehelm review list --config gs.toml\n  bluehelm review approve ID --config gs.toml"
    )]
    Review(review::ReviewArgs),
    /// The node's notice register: every notice it published or received, with its status.
    #[command(
        after_help = "Examples:\n  bluehelm notices list --config ncb.ke.toml\n  bluehelm notices show A-1234/5-2026 --config ncb.ke.toml --json"
    )]
    Notices(notices::NoticesArgs),
    /// The field databases: import and export records, and their status at this node.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  bluehelm db import sltd sltd.csv --config ncb.fr.toml\n  bluehelm db status --config mission.unmiss.toml"
    )]
    Db(db::DbCommand),
    /// The older name of `bluehelm db` (import only).
    #[command(subcommand, hide = true)]
    Service(db::ServiceCommand),
    /// The node's tamper-evident audit log: verify it, trace a message, list who queried a
    /// bureau's records.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  bluehelm audit verify --config ncb.fr.toml\n  bluehelm audit trace MESSAGE_ID --config gs.toml\n  bluehelm audit queries --owner ncb.fr --config gs.toml"
    )]
    Audit(audit::AuditCommand),
    /// Quarantine for an overrun post: hold a compromised node's messages, then release or
    /// drop them.
    #[command(
        after_help = "Examples:\n  bluehelm quarantine add --config gs.toml --node mission.unmiss --since 2026-11-28T14:00:00Z\n  bluehelm quarantine list --config ncb.fr.toml\n  bluehelm quarantine release 42 --config ncb.fr.toml"
    )]
    Quarantine(quarantine::QuarantineArgs),
    /// The queues for each next hop: list them in sending order, show one message, purge.
    #[command(
        after_help = "Examples:\n  bluehelm queue list --config gs.toml --hop mission.unmiss\n  bluehelm queue show --config gs.toml --hop mission.unmiss MESSAGE_ID\n  bluehelm queue purge --config gs.toml --hop mission.unmiss --precedence routine"
    )]
    Queue(queue::QueueArgs),
    /// Make the running node read its config file again, as SIGHUP does: routes, groups,
    /// peers, limits, certificate, key and CRL change without dropping the other links.
    #[command(
        after_help = "Examples:\n  bluehelm reload --config gs.toml\n  bluehelm reload --config gs.toml --json"
    )]
    Reload(reload::ReloadArgs),
    /// One process of `bluehelm bench` (internal).
    #[command(hide = true)]
    BenchNode(bench_node::BenchNodeArgs),
}

/// Logs go to stderr. Commands that tell a story on stdout (demo, bench) log warnings only
/// unless asked for more; a node logs at info, in its config's `log_format`.
pub fn init_logging(command: &Command, verbose: u8) {
    let quiet = !matches!(command, Command::Run(_));
    // Read here, before anything is logged; a config that does not load is reported by
    // `run` itself, in text.
    let format = match command {
        Command::Run(args) => bluehelm::NodeConfig::load(&args.config)
            .map(|config| config.log_format)
            .unwrap_or_default(),
        _ => bluehelm::config::LogFormat::Text,
    };
    logging::init(format, verbose, quiet);
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Run(args) => allocator::configure(&args.config),
        Command::BenchNode(args) => allocator::configure(&args.config),
        _ => {}
    }
    init_logging(&cli.command, cli.verbose);
    match cli.command {
        Command::Pki(cmd) => pki::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchNode(args) => bench_node::run(args),
        Command::Send(args) => send::run(*args),
        Command::Inbox(args) => inbox::run(args),
        Command::Request(args) => request::run(args),
        Command::Status(args) => status::run(args),
        Command::Review(args) => review::run(args),
        Command::Notices(args) => notices::run(args),
        Command::Db(cmd) => db::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Quarantine(args) => quarantine::run(args),
        Command::Queue(args) => queue::run(args),
        Command::Reload(args) => reload::run(args),
        Command::Service(cmd) => db::run_service(cmd),
    }
}
