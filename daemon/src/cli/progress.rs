//! Progress of a long phase of a command (filling a million messages takes a minute or two; an import of
//! a large file), drawn by indicatif on stderr, and only when stderr is a terminal: piped or
//! in a log file it draws nothing, so that `--json` output and CI logs stay clean.

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The prefix of a child's progress lines: `progress N`.
pub const PROGRESS: &str = "progress ";

/// `label: 6,016 of 20,000 (1s, 2s left)`.
const ITEMS: &str = "{msg}: {human_pos} of {human_len} ({elapsed}, {eta} left)";
/// `label: 12.0 MiB of 80.0 MiB (3.1 MiB/s, 4s)`.
const BYTES: &str = "{msg}: {bytes} of {total_bytes} ({bytes_per_sec}, {elapsed})";

/// One phase's progress towards a known total; clones show the same bar.
#[derive(Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Counts items (messages, links).
    pub fn new(label: &'static str, total: usize) -> Self {
        Self::styled(label, total as u64, ITEMS)
    }

    /// Counts bytes.
    pub fn bytes(label: &'static str, total: u64) -> Self {
        Self::styled(label, total, BYTES)
    }

    fn styled(label: &'static str, total: u64, template: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        // The templates are constants: one that does not parse is a bug caught by the tests,
        // and the bar keeps indicatif's default style rather than failing the phase.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(label);
        Self { bar }
    }

    /// `done` of the total so far.
    pub fn set(&self, done: usize) {
        self.bar.set_position(done as u64);
    }

    /// `more` done since the last call.
    pub fn add(&self, more: u64) {
        self.bar.inc(more);
    }

    /// Ends the line, leaving the last figures on the terminal; what is written next
    /// starts on a line of its own.
    pub fn finish(&self) {
        self.bar.abandon();
        if !self.bar.is_hidden() {
            eprintln!();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        for template in [ITEMS, BYTES] {
            assert!(ProgressStyle::with_template(template).is_ok(), "{template}");
        }
    }
}
