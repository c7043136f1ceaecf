//! `bluehelm`: the one operator binary. Subcommands live in `cli/`; this file only parses
//! arguments, sets up logging and turns errors into an exit code.

use clap::Parser;

mod cli;

// mimalloc, not glibc's allocator: a quarter of the relay's CPU went to glibc's (settings and
// figures in cli/allocator.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
