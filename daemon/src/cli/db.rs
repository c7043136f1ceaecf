//! `bluehelm db import|export|status` (issue 13): the node's field databases. A bureau
//! imports its own records at its own node, which signs them and sends them to the hub; the
//! hub sequences every bureau's changes; replicas sync from the hub (docs/bureau-guide.md,
//! "Field databases"). `bluehelm service import` is the older name of `db import`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use bluehelm::api::pb;
use bluehelm::human_time::local_from_ms;

use super::bureau::{self, fail, input, Exit, NodeArgs};
use super::out::outln;
use super::progress::Progress;

/// Bytes per chunk sent to the node: well under gRPC's 4 MiB message cap.
const CHUNK_BYTES: usize = 1024 * 1024;
const DATABASES: [&str; 4] = ["sltd", "smv", "persons", "dna"];

#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Import a file of this node's own records (CSV with the documented header, or JSON
    /// lines). The node signs each row; at the hub it is sequenced at once, elsewhere it is
    /// sent to the hub. A row with action=withdraw withdraws its record. Bad rows are
    /// reported by line; exits 1 if any row was refused.
    #[command(
        after_help = "Examples:\n  bluehelm db import sltd sltd.csv --config ncb.fr.toml\n  bluehelm db import smv smv.jsonl --config ncb.fr.toml --json"
    )]
    Import(ImportArgs),
    /// Write every live record this node holds of a database as JSON lines.
    #[command(
        after_help = "Examples:\n  bluehelm db export sltd --config gs.toml > sltd.jsonl\n  bluehelm db export sltd --config mission.unmiss.toml --out sltd.jsonl"
    )]
    Export(ExportArgs),
    /// What the node holds of each database; at a replica, how fresh it is and whether its
    /// digest matched the hub's.
    #[command(
        after_help = "Examples:\n  bluehelm db status --config mission.unmiss.toml\n  bluehelm db status --config gs.toml --json"
    )]
    Status(StatusArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// The older name of `bluehelm db import`.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// sltd, smv, persons or dna.
    #[arg(value_parser = DATABASES)]
    pub database: String,
    /// The file: CSV with the documented header line, or JSON lines.
    pub file: PathBuf,
    /// Print the node's report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// sltd, smv, persons or dna.
    #[arg(value_parser = DATABASES)]
    pub database: String,
    /// Write to this file (created 0600) instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: DbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Import(args) => import(args),
        DbCommand::Export(args) => export(args),
        DbCommand::Status(args) => status(args),
    }
}

pub fn run_service(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ServiceCommand::Import(args) => import(args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let shown = args.file.display().to_string();
        let data =
            std::fs::read(&args.file).map_err(|e| input(format!("cannot read {shown}: {e}")))?;
        let mut chunks: Vec<pb::ImportChunk> = data
            .chunks(CHUNK_BYTES)
            .map(|c| pb::ImportChunk {
                database: String::new(),
                data: c.to_vec(),
            })
            .collect();
        match chunks.first_mut() {
            Some(first) => first.database.clone_from(&args.database),
            None => return Err(input(format!("{shown} is empty"))),
        }
        let mut client = args.node.connect().await?;
        // What the node has taken of the file: gRPC takes a chunk when the node has room.
        let progress = Progress::bytes("importing", data.len() as u64);
        let bar = progress.clone();
        let sent = tokio_stream::StreamExt::map(tokio_stream::iter(chunks), move |chunk| {
            bar.add(chunk.data.len() as u64);
            chunk
        });
        let report = client.import_records(sent).await;
        progress.finish();
        let report = report
            .map_err(|s| {
                let failure = bureau::from_status(s);
                fail(failure.exit, format!("{shown}: {}", failure.message))
            })?
            .into_inner();
        if args.json {
            outln!("{}", bureau::to_json(&report))?;
        } else {
            for error in &report.errors {
                eprintln!("{shown}:{}: {}", error.line, error.message);
            }
            let whereto = if report.uploads > 0 {
                format!(
                    ", signed and sent to {} in {} message(s) for sequencing",
                    report.hub, report.uploads
                )
            } else {
                String::new()
            };
            outln!(
                "imported {} {} record(s) from {shown}{whereto}; {} row(s) refused",
                report.imported,
                args.database,
                report.rejected
            )?;
        }
        if report.rejected > 0 {
            let unlisted = report.rejected - report.errors.len() as u64;
            let more = if unlisted > 0 {
                format!(" ({unlisted} not listed)")
            } else {
                String::new()
            };
            return Err(fail(
                Exit::Input,
                format!(
                    "{} row(s) of {shown} refused{more}; the {} good row(s) were imported",
                    report.rejected, report.imported
                ),
            ));
        }
        Ok(())
    })
}

fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let mut out: Box<dyn std::io::Write> = match &args.out {
            Some(path) => {
                use std::os::unix::fs::OpenOptionsExt as _;
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| input(format!("cannot write {}: {e}", path.display())))?;
                Box::new(std::io::BufWriter::new(file))
            }
            None => Box::new(std::io::stdout().lock()),
        };
        let mut client = args.node.connect().await?;
        let mut stream = client
            .export_records(pb::ExportRequest {
                database: args.database.clone(),
            })
            .await
            .map_err(bureau::from_status)?
            .into_inner();
        while let Some(chunk) = stream.message().await.map_err(bureau::from_status)? {
            out.write_all(&chunk.data)
                .map_err(|e| fail(Exit::Input, format!("cannot write the export: {e}")))?;
        }
        out.flush()
            .map_err(|e| fail(Exit::Input, format!("cannot write the export: {e}")))?;
        Ok(())
    })
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    bureau::block_on(async move {
        let mut client = args.node.connect().await?;
        let status = client
            .database_status(pb::DatabaseStatusRequest {})
            .await
            .map_err(bureau::from_status)?
            .into_inner();
        if args.json {
            outln!("{}", bureau::to_json(&status))?;
            return Ok(());
        }
        for db in &status.databases {
            match db.role.as_str() {
                "hub" => outln!(
                    "{:<8} hub      {} record(s), latest change {}",
                    db.database,
                    db.records,
                    db.seq
                )?,
                "replica" => {
                    outln!(
                        "{:<8} replica  {} record(s), {}",
                        db.database,
                        db.records,
                        db.freshness
                    )?;
                    if let Some(d) = &db.digest {
                        let verdict = if d.matches {
                            "matches the hub's"
                        } else {
                            "DIFFERS from the hub's"
                        };
                        outln!(
                            "         digest at change {} ({} records) {verdict}, checked {}",
                            d.seq,
                            d.records,
                            local_from_ms(d.checked_at_ms)
                        )?;
                    }
                    if let Some(c) = &db.last_catch_up {
                        outln!(
                            "         last caught up {} change(s) in {} ms, level at {}",
                            c.changes,
                            c.ms,
                            local_from_ms(c.at_ms)
                        )?;
                    }
                }
                _ => outln!("{:<8} -        not replicated here", db.database)?,
            }
        }
        Ok(())
    })
}
