//! `bluehelm service import sltd|smv FILE.csv`: loads a reference database on the node that
//! answers it (docs/bureau-guide.md, "Reference databases").

use std::path::PathBuf;
use std::process::ExitCode;

use bluehelm::api::pb;

use super::bureau::{self, fail, input, Exit, NodeArgs};
use super::out::outln;

/// Bytes per chunk sent to the node: well under gRPC's 4 MiB message cap.
const CHUNK_BYTES: usize = 1024 * 1024;

#[derive(Debug, clap::Subcommand)]
pub enum ServiceCommand {
    /// Load a CSV file into a reference database (sltd or smv). Bad rows are reported by
    /// line and the good ones kept; exits 1 if any row was refused.
    #[command(
        after_help = "Examples:\n  bluehelm service import sltd sltd.csv --config gs.toml\n  bluehelm service import smv smv.csv --config gs.toml --json"
    )]
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// sltd (stolen and lost travel documents) or smv (stolen motor vehicles).
    #[arg(value_parser = ["sltd", "smv"])]
    pub database: String,
    /// The CSV file, with the documented header line.
    pub file: PathBuf,
    /// Print the node's report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
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
        let report = client
            .import_records(tokio_stream::iter(chunks))
            .await
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
            outln!(
                "imported {} {} record(s) from {shown}; {} row(s) refused",
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
