//! Reading an audit log back: `bluehelm audit verify` (the chain and the signed checkpoints),
//! `trace` and `queries` (the entries). Lines are read with a cap, so a doctored file with
//! an endless line costs a bounded buffer.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use bluehelm_pki::{EnvelopeVerifier, TrustStore};

use crate::engine::audit::{Checkpoint, Entry, SignedCheckpoint, Tamper, Verifier, MAX_LINE};

/// The node's log, in its storage directory.
pub const LOG_FILE: &str = "audit.log";
/// The checkpoints the node signed, beside its log.
pub const CHECKPOINTS_FILE: &str = "audit-checkpoints.log";

/// The prefix of a log file set aside (rotated): `audit.log.` and the number of its last
/// entry, 20 digits, so that names sort in the log's order.
const ROTATED_PREFIX: &str = "audit.log.";

/// The name a log file takes when it is set aside after entry `last_seq`.
pub(super) fn rotated_name(last_seq: u64) -> String {
    format!("{ROTATED_PREFIX}{last_seq:020}")
}

/// The files of the log in `storage`, oldest first: those set aside, then `audit.log`
/// (if it exists). An operator may have moved the oldest away; the rest verify from a
/// checkpoint (see [`verify_log`]).
pub fn log_files(storage: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let io = |source| ReadError::Io {
        path: storage.to_owned(),
        source,
    };
    let mut rotated = Vec::new();
    for item in std::fs::read_dir(storage).map_err(io)? {
        let name = item.map_err(io)?.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_rotated = name
            .strip_prefix(ROTATED_PREFIX)
            .is_some_and(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()));
        if is_rotated {
            rotated.push(name.to_owned());
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.iter().map(|name| storage.join(name)).collect();
    let current = storage.join(LOG_FILE);
    if current.exists() || files.is_empty() {
        files.push(current);
    }
    Ok(files)
}

/// At gs: the checkpoints `node` sent.
pub fn received_checkpoints_file(storage: &Path, node: &str) -> PathBuf {
    storage.join(format!("audit-checkpoints-{node}.log"))
}

/// Why a log could not be read or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the network CA to check checkpoint signatures: {0}")]
    Trust(#[from] bluehelm_pki::TrustStoreError),
    #[error("{path}, line {line}: {problem}")]
    Checkpoint {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error("{path}: {tamper}")]
    Tampered { path: PathBuf, tamper: Tamper },
    #[error("{path} is the log's oldest file and starts at entry {first}: the files before it were moved away, and no signed checkpoint of entry {} is at hand to check it from (give the checkpoint files with --checkpoints, or put the older files back)", first - 1)]
    Unanchored { path: PathBuf, first: u64 },
}

/// What `audit verify` found in an untouched log.
#[derive(Debug)]
pub struct LogVerified {
    /// The first entry verified: 1, or where the oldest file kept starts.
    pub first: u64,
    pub entries: u64,
    /// Signed checkpoints checked against it.
    pub checkpoints: usize,
    /// The latest of them.
    pub latest: Option<Checkpoint>,
}

/// Verifies `node`'s log in `storage` against the checkpoints in its own checkpoint file
/// and in `more` (e.g. the copies gs kept), each signature checked with the CA at `ca`.
pub fn verify_log(
    storage: &Path,
    node: &str,
    ca: &Path,
    more: &[PathBuf],
) -> Result<LogVerified, ReadError> {
    let verifier = EnvelopeVerifier::new(TrustStore::load(ca, None)?);
    let mut checkpoints = Vec::new();
    let own = storage.join(CHECKPOINTS_FILE);
    if own.exists() {
        checkpoints.extend(read_checkpoints(&own, node, &verifier)?);
    }
    for path in more {
        checkpoints.extend(read_checkpoints(path, node, &verifier)?);
    }
    let count = checkpoints.len();
    let latest = checkpoints.iter().max_by_key(|c| c.seq).copied();
    let files = log_files(storage)?;
    let first = match files.first() {
        Some(oldest) => first_entry(oldest)?.unwrap_or(1),
        None => 1,
    };
    let mut chain = if first <= 1 {
        Verifier::new(node, checkpoints)
    } else {
        // The older files were moved away: the checkpoint signed when the one before this
        // was set aside says what its last entry was, and so what this file must follow.
        let anchor = checkpoints.iter().find(|c| c.seq == first - 1).copied();
        match anchor {
            Some(anchor) => Verifier::from_checkpoint(anchor, checkpoints),
            None => {
                return Err(ReadError::Unanchored {
                    path: files[0].clone(),
                    first,
                })
            }
        }
    };
    let mut path = storage.join(LOG_FILE);
    for file in files {
        path = file;
        let tampered = |tamper| ReadError::Tampered {
            path: path.clone(),
            tamper,
        };
        chain.next_file();
        let mut lines = Lines::open(&path)?;
        while let Some(line) = lines.next() {
            let (number, text) = line?;
            if lines.unfinished {
                // The writer is appending it now (or died doing so, and removes it on start).
                break;
            }
            let text = text.map_err(|problem| {
                tampered(Tamper::Malformed {
                    line: number,
                    problem,
                })
            })?;
            chain.line(&text).map_err(tampered)?;
        }
    }
    let entries = chain.entries();
    chain
        .finish()
        .map_err(|tamper| ReadError::Tampered { path, tamper })?;
    Ok(LogVerified {
        first,
        entries,
        checkpoints: count,
        latest,
    })
}

/// The number of the first entry in `path`, if it has one that parses (a file that does
/// not is reported by the verification that follows).
fn first_entry(path: &Path) -> Result<Option<u64>, ReadError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut lines = Lines::open(path)?;
    let Some(line) = lines.next() else {
        return Ok(None);
    };
    let (number, text) = line?;
    Ok(parse_entry(path, number, text).ok().map(|entry| entry.seq))
}

/// The signed checkpoints of `node` in `path`, each signature checked.
fn read_checkpoints(
    path: &Path,
    node: &str,
    verifier: &EnvelopeVerifier,
) -> Result<Vec<Checkpoint>, ReadError> {
    let mut out = Vec::new();
    for line in Lines::open(path)? {
        let (number, text) = line?;
        let bad = |problem: String| ReadError::Checkpoint {
            path: path.to_owned(),
            line: number,
            problem,
        };
        let text = text.map_err(bad)?;
        let signed = SignedCheckpoint::parse(&text).map_err(|e| bad(e.to_string()))?;
        if signed.node != node {
            return Err(bad(format!(
                "a checkpoint of {}, not of {node}",
                signed.node
            )));
        }
        let parts = signed.signed_parts().map_err(|e| bad(e.to_string()))?;
        let signer = verifier
            .verify_checkpoint(
                &parts.certificate,
                &parts.message,
                &parts.signature,
                signed.at_ms,
            )
            .map_err(|e| bad(format!("signature refused: {e}")))?;
        if signer.node.as_str() != node {
            return Err(bad(format!("signed by {}, not by {node}", signer.node)));
        }
        out.push(signed.checkpoint().map_err(|e| bad(e.to_string()))?);
    }
    Ok(out)
}

/// The entries of the log in `storage` (every file of it kept, oldest first), in order; a
/// line that does not parse is an error.
pub fn entries(
    storage: &Path,
) -> Result<impl Iterator<Item = Result<Entry, ReadError>>, ReadError> {
    let mut files = log_files(storage)?.into_iter();
    let mut current: Option<(PathBuf, Lines)> = None;
    Ok(std::iter::from_fn(move || loop {
        if current.is_none() {
            let path = files.next()?;
            match Lines::open(&path) {
                Ok(lines) => current = Some((path, lines)),
                Err(err) => return Some(Err(err)),
            }
        }
        let (path, lines) = current.as_mut()?;
        match lines.next() {
            // The last line of the file being appended now: not an entry yet.
            Some(_) if lines.unfinished => current = None,
            Some(line) => {
                return Some(line.and_then(|(number, text)| parse_entry(path, number, text)))
            }
            None => current = None,
        }
    }))
}

fn parse_entry(path: &Path, number: u64, text: Result<String, String>) -> Result<Entry, ReadError> {
    let malformed = |problem: String| ReadError::Tampered {
        path: path.to_owned(),
        tamper: Tamper::Malformed {
            line: number,
            problem,
        },
    };
    let text = text.map_err(malformed)?;
    let (_, json) = text
        .split_once(' ')
        .ok_or_else(|| malformed("no hash before the entry".into()))?;
    serde_json::from_str(json).map_err(|e| malformed(format!("bad JSON: {e}")))
}

/// Lines of at most [`MAX_LINE`] bytes, numbered from 1; a longer or non-UTF-8 line is an
/// `Err` in the inner result (what is wrong with it), a read failure in the outer.
struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    number: u64,
    buf: Vec<u8>,
    /// The last line read had no line end: the file ends in it.
    unfinished: bool,
}

type Line = Result<(u64, Result<String, String>), ReadError>;

impl Lines {
    fn open(path: &Path) -> Result<Self, ReadError> {
        let file = File::open(path).map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            reader: BufReader::new(file),
            path: path.to_owned(),
            number: 0,
            buf: Vec::new(),
            unfinished: false,
        })
    }
}

impl Iterator for Lines {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        self.buf.clear();
        let cap = MAX_LINE as u64 + 1;
        let read = (&mut self.reader)
            .take(cap)
            .read_until(b'\n', &mut self.buf);
        match read {
            Err(source) => Some(Err(ReadError::Io {
                path: self.path.clone(),
                source,
            })),
            Ok(0) => None,
            Ok(_) => {
                self.number += 1;
                self.unfinished = false;
                if self.buf.last() == Some(&b'\n') {
                    self.buf.pop();
                } else if self.buf.len() as u64 >= cap {
                    // Skip the rest of the overlong line, so the numbering stays true.
                    let _ = self.reader.skip_until(b'\n');
                    return Some(Ok((
                        self.number,
                        Err("longer than an entry can be".to_owned()),
                    )));
                } else {
                    self.unfinished = true;
                }
                let text = String::from_utf8(std::mem::take(&mut self.buf))
                    .map_err(|_| "not UTF-8".to_owned());
                Some(Ok((self.number, text)))
            }
        }
    }
}
