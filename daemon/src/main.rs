//! `bluehelm`: the one operator binary. Subcommands live in `cli/`; this file only parses
//! arguments, sets up logging and turns errors into an exit code.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(1)
        }
    }
}
