//! Every option says what it is for and every subcommand shows an example (issue 10,
//! "help texts"): a new flag without a doc comment fails here, not in an operator's terminal.

use clap::CommandFactory;

use super::Cli;

/// Options clap adds by itself; they carry their own help.
const BUILT_IN: [&str; 2] = ["help", "version"];

fn walk(command: &clap::Command, path: &str, problems: &mut Vec<String>) {
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if BUILT_IN.contains(&id) || arg.is_hide_set() {
            continue;
        }
        let described = arg
            .get_help()
            .or(arg.get_long_help())
            .is_some_and(|h| !h.to_string().trim().is_empty());
        if !described {
            problems.push(format!("{path}: argument `{id}` has no help text"));
        }
    }
    let example = command
        .get_after_help()
        .or(command.get_after_long_help())
        .is_some_and(|h| h.to_string().contains("bluehelm "));
    if !example && path != "bluehelm" {
        problems.push(format!("{path}: no example in its help"));
    }
    for sub in command.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        walk(sub, &format!("{path} {}", sub.get_name()), problems);
    }
}

#[test]
fn every_option_has_help_and_every_subcommand_an_example() {
    let mut command = Cli::command();
    command.build();
    let mut problems = Vec::new();
    walk(&command, "bluehelm", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
