//! Progress of a long bench phase (filling a million messages takes a minute or two), on one
//! line of stderr rewritten in place, and only when stderr is a terminal: piped or in a log
//! file it writes nothing, so that `--json` output and CI logs stay clean.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ChildStdout;
use std::time::Instant;

use anyhow::bail;

/// The prefix of a child's progress lines: `progress N`.
pub const PROGRESS: &str = "progress ";

/// One phase's progress towards `total`.
pub struct Progress {
    label: &'static str,
    total: usize,
    started: Instant,
    shown: bool,
}

impl Progress {
    pub fn new(label: &'static str, total: usize) -> Self {
        Self {
            label,
            total,
            started: Instant::now(),
            shown: std::io::stderr().is_terminal(),
        }
    }

    /// `done` of the total so far.
    pub fn set(&self, done: usize) {
        if !self.shown {
            return;
        }
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = super::bench_figures::rate(done, seconds);
        let mut err = std::io::stderr().lock();
        // Progress is a courtesy: a failed write to the terminal changes no figure.
        let _ = write!(
            err,
            "\r{}: {done} of {} ({rate:.0}/s, {seconds:.0} s)\x1b[K",
            self.label, self.total
        );
        let _ = err.flush();
    }

    /// Ends the line.
    pub fn finish(&self) {
        if self.shown {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Reads a child's stdout until a line containing `marker`, showing its `progress N` lines
/// on `progress`; returns the marker line.
pub fn follow(
    name: &str,
    out: &mut BufReader<ChildStdout>,
    marker: &str,
    progress: &Progress,
) -> anyhow::Result<String> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            progress.finish();
            bail!("the {name} process ended before printing {marker:?}");
        }
        if let Some(done) = line.trim().strip_prefix(PROGRESS) {
            if let Ok(done) = done.parse() {
                progress.set(done);
            }
        } else if line.contains(marker) {
            progress.finish();
            return Ok(line.trim().to_owned());
        }
    }
}
