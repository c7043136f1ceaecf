//! `bluehelm`: the one operator binary. Subcommands live in `cli/`; this file only parses
//! arguments, sets up logging and turns errors into an exit code.

use clap::Parser;

mod cli;

/// mimalloc rather than the system allocator: sled copies a tree node on every write, and
/// with the field databases' indexes that churn cost glibc's malloc dearly (nominal bench at
/// 200,000 persons, two pairs: sync 1.4x faster, import 1.6x, query p99 about half;
/// docs/performance.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        // The reader has what it wanted (`| head`); nothing to report.
        Err(err) if cli::out::is_closed(&err) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the chain: each error type says only its own part (issue 10).
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(1)
        }
    }
}
