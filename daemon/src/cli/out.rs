//! Standard output for the subcommands. `println!` panics when the reader has gone
//! (`bluehelm status | head`: exit 101 and a panic message, issue 10); every subcommand
//! prints through [`line`] instead, and a closed pipe ends the command quietly.

use std::io::Write as _;

/// Printing failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader closed its end (`| head`, `| true`): not a failure of the command. `main`
    /// exits 0 without a word.
    #[error("standard output was closed by its reader")]
    Closed,
    /// Anything else (a full disk behind a redirection): reported.
    #[error("cannot write to standard output")]
    Io(#[source] std::io::Error),
}

/// Writes one line (and flushes, so that a follower sees it at once).
pub fn line(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => OutputError::Closed,
            _ => OutputError::Io(e),
        })
}

/// `println!` that returns an [`OutputError`] instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Whether `err` is a closed standard output, however deep in its chain.
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| matches!(e.downcast_ref::<OutputError>(), Some(OutputError::Closed)))
}
