//! The audit log's hash chain (issue 14, item 5): what a line says, how each line is bound
//! to every line before it, and how a reader finds where a log was tampered with. Pure: the
//! node's writer and `bluehelm audit verify` are shells around [`Chain`] and [`Verifier`].
//!
//! # Lines
//! One line per entry: the entry's chain hash in lower-case hex, a space, then the entry as
//! one line of JSON. The hash is SHA-256 over a domain tag, the previous line's hash and the
//! JSON exactly as written, so a verifier never re-serialises anything: a changed byte
//! anywhere in an entry changes its hash, and a changed hash breaks the next line's. The
//! first line's previous hash is the node's genesis ([`genesis`]), so one node's log cannot
//! be passed off as another's.
//!
//! Entries are numbered from 1 without gaps: a removed, inserted or reordered entry shows as
//! a number out of place even where the hashes were recomputed after the edit. What a
//! recomputed chain hides (the last entries rewritten or cut off) a signed checkpoint
//! catches: the node signs `(seq, hash)` from time to time and sends it to gs, and
//! [`Verifier::finish`] checks the log still holds that entry with that hash.

use serde::{Deserialize, Serialize};

use bluehelm_proto::{Envelope, MessageRef};

use super::records::{hex, push_hex, sha256_parts as sha256};
use crate::human_time::local_from_ms;

mod line;
mod signed;
#[cfg(test)]
mod tests;

pub use signed::{unhex, CheckpointLineError, SignedCheckpoint, SignedParts};

/// A chain hash: SHA-256.
pub type Digest = [u8; 32];

const GENESIS_DOMAIN: &[u8] = b"bluehelm/v1/audit-genesis\0";
const LINK_DOMAIN: &[u8] = b"bluehelm/v1/audit-entry\0";
const CHECKPOINT_DOMAIN: &[u8] = b"bluehelm/v1/audit-checkpoint\0";
/// The service of gs that keeps the checkpoints other nodes sign. Every node routes it to
/// the hub without configuration (`config.rs`).
pub const CHECKPOINT_SERVICE: &str = "audit.checkpoint";
/// Longest line a verifier reads: entries hold ids and names, never bodies.
pub const MAX_LINE: usize = 16 * 1024;

/// What happened, in the words `bluehelm audit trace` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Taken into custody from a peer or an application.
    Accepted,
    /// Handed to the next hop, which took custody.
    Relayed,
    /// Put in an application's inbox at this node.
    Delivered,
    /// Acknowledged by the application that read it.
    Read,
    /// Refused (policy, signature, release marking); `rule` says which.
    Refused,
    /// Its time to live ran out here.
    Expired,
    /// Held back because its origin is compromised.
    Quarantined,
    /// Released from quarantine by an operator.
    Released,
    /// Dropped from quarantine by an operator.
    Dropped,
    /// Given up by an operator's queue purge (issue 15, item 4).
    Purged,
    /// Moved from a silent next hop's queue to its route's alternate (issue 15, item 7).
    Rerouted,
    /// A query of a database this node holds.
    Queried,
}

/// One audited event: ids and names, never a body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Numbered from 1, without gaps.
    pub seq: u64,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub event: Event,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub destination: String,
    /// The message's kind, or the service queried.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub decision: String,
    /// The policy rule that decided, where one did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rule: String,
    /// The terminal (or local application) that asked, where one did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub terminal: String,
    /// For a query: the bureau that owns the records that answered.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
}

impl Entry {
    /// An entry of `event` at `at_ms`, every other field empty; `seq` is set by [`Chain`].
    pub fn new(event: Event, at_ms: i64) -> Self {
        Self {
            seq: 0,
            at_ms,
            event,
            message_id: String::new(),
            origin: String::new(),
            destination: String::new(),
            kind: String::new(),
            decision: String::new(),
            rule: String::new(),
            terminal: String::new(),
            owner: String::new(),
        }
    }

    /// An entry about `envelope`: its id, origin, destination and kind.
    pub fn about(event: Event, envelope: &Envelope, at_ms: i64) -> Self {
        Self {
            message_id: envelope.message_id.to_string(),
            origin: envelope.origin.to_string(),
            destination: envelope.destination.to_string(),
            kind: envelope.kind().to_string(),
            ..Self::new(event, at_ms)
        }
    }

    /// An entry about a message known only by its reference (it did not verify, or only
    /// its reference is at hand).
    pub fn about_ref(event: Event, message: &MessageRef, at_ms: i64) -> Self {
        Self {
            message_id: message.id.to_string(),
            origin: message.origin.to_string(),
            ..Self::new(event, at_ms)
        }
    }

    /// With `decision` said (e.g. a refusal reason, or where a copy went).
    pub fn decided(mut self, decision: impl Into<String>) -> Self {
        self.decision = clip(decision.into());
        self
    }

    /// With the rule that decided.
    pub fn by_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = clip(rule.into());
        self
    }
}

/// Longest field: a line stays far below [`MAX_LINE`] however long a peer's detail was.
const MAX_FIELD: usize = 512;

fn clip(mut text: String) -> String {
    if text.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The hash a node's first entry chains from.
pub fn genesis(node: &str) -> Digest {
    sha256(&[GENESIS_DOMAIN, node.as_bytes()])
}

/// The hash of an entry written as `json` after an entry whose hash is `previous`.
pub fn link(previous: &Digest, json: &[u8]) -> Digest {
    sha256(&[LINK_DOMAIN, previous, json])
}

/// The bytes a node signs for a checkpoint: which node, how far, and the hash there.
pub fn checkpoint_message(node: &str, checkpoint: &Checkpoint) -> Vec<u8> {
    let mut out = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + node.len() + 49);
    out.extend_from_slice(CHECKPOINT_DOMAIN);
    out.push(u8::try_from(node.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&node.as_bytes()[..node.len().min(255)]);
    out.extend_from_slice(&checkpoint.seq.to_be_bytes());
    out.extend_from_slice(&checkpoint.at_ms.to_be_bytes());
    out.extend_from_slice(&checkpoint.hash);
    out
}

/// Where a log stood when its node signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: Digest,
    pub at_ms: i64,
}

/// The writer's side: numbers entries and chains them.
#[derive(Debug, Clone)]
pub struct Chain {
    last_seq: u64,
    head: Digest,
}

impl Chain {
    /// A log with no entries yet.
    pub fn new(node: &str) -> Self {
        Self {
            last_seq: 0,
            head: genesis(node),
        }
    }

    /// A log that ends at `last_seq` with hash `head` (as a [`Verifier`] found it).
    pub fn resume(last_seq: u64, head: Digest) -> Self {
        Self { last_seq, head }
    }

    /// The line for `entry`, numbered next, with its newline; the chain moves on.
    pub fn append(&mut self, entry: Entry) -> String {
        let mut line = String::new();
        self.append_to(entry, &mut String::new(), &mut line);
        line
    }

    /// [`Chain::append`] into `out`, with `json` as scratch space: the writer keeps both
    /// and allocates nothing per entry.
    pub fn append_to(&mut self, mut entry: Entry, json: &mut String, out: &mut String) {
        entry.seq = self.last_seq + 1;
        json.clear();
        line::write_json(&entry, json);
        let hash = link(&self.head, json.as_bytes());
        self.last_seq = entry.seq;
        self.head = hash;
        push_hex(&hash, out);
        out.push(' ');
        out.push_str(json);
        out.push('\n');
    }

    /// The number of the last entry appended (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Where the log stands now, to sign as a checkpoint.
    pub fn checkpoint(&self, at_ms: i64) -> Checkpoint {
        Checkpoint {
            seq: self.last_seq,
            hash: self.head,
            at_ms,
        }
    }
}

/// What is wrong with a log, and where: the first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    #[error("line {line}: not an audit entry ({problem})")]
    Malformed { line: u64, problem: String },
    #[error("line {line}: entry {seq} was changed after it was written (its hash does not match its contents and the entries before it)")]
    Edited { line: u64, seq: u64 },
    #[error("line {line}: entry {found} where entry {expected} should be (an entry was removed, inserted or moved)")]
    OutOfSequence {
        line: u64,
        expected: u64,
        found: u64,
    },
    #[error("entry {seq} differs from the checkpoint the node signed at {} (the log was rewritten after it)", local_from_ms(*at_ms))]
    CheckpointMismatch { seq: u64, at_ms: i64 },
    #[error("the log ends at entry {last}, before entry {seq} of the checkpoint the node signed at {} (the log was cut)", local_from_ms(*at_ms))]
    Truncated { last: u64, seq: u64, at_ms: i64 },
}

/// The reader's side: fed the lines in order, says where the chain breaks.
#[derive(Debug)]
pub struct Verifier {
    chain: Chain,
    line: u64,
    /// The checkpoints still ahead, latest first.
    checkpoints: Vec<Checkpoint>,
}

impl Verifier {
    /// Verifies `node`'s log against the checkpoints it signed (their signatures checked by
    /// the caller).
    pub fn new(node: &str, mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.seq));
        Self {
            chain: Chain::new(node),
            line: 0,
            checkpoints,
        }
    }

    /// Verifies a log whose entries up to the checkpoint `anchor` were moved away: the
    /// first line must be entry `anchor.seq + 1` and follow the hash the node signed for
    /// `anchor.seq`. Checkpoints of the entries moved away cannot be checked here.
    pub fn from_checkpoint(anchor: Checkpoint, checkpoints: Vec<Checkpoint>) -> Self {
        let mut checkpoints: Vec<Checkpoint> = checkpoints
            .into_iter()
            .filter(|c| c.seq > anchor.seq)
            .collect();
        checkpoints.sort_by_key(|c| std::cmp::Reverse(c.seq));
        Self {
            chain: Chain::resume(anchor.seq, anchor.hash),
            line: 0,
            checkpoints,
        }
    }

    /// The lines that follow are a new file's (their numbers start again at 1); the chain
    /// goes on across it.
    pub fn next_file(&mut self) {
        self.line = 0;
    }

    /// The next line, without its newline.
    pub fn line(&mut self, text: &str) -> Result<(), Tamper> {
        self.line += 1;
        let line = self.line;
        let malformed = |problem: &str| Tamper::Malformed {
            line,
            problem: problem.to_owned(),
        };
        if text.len() > MAX_LINE {
            return Err(malformed("longer than an entry can be"));
        }
        let (stated, json) = text
            .split_once(' ')
            .ok_or_else(|| malformed("no hash before the entry"))?;
        let entry: Entry =
            serde_json::from_str(json).map_err(|e| malformed(&format!("bad JSON: {e}")))?;
        let expected = self.chain.last_seq + 1;
        if entry.seq != expected {
            return Err(Tamper::OutOfSequence {
                line,
                expected,
                found: entry.seq,
            });
        }
        let hash = link(&self.chain.head, json.as_bytes());
        if hex(&hash) != stated {
            return Err(Tamper::Edited {
                line,
                seq: entry.seq,
            });
        }
        self.chain = Chain::resume(entry.seq, hash);
        while let Some(checkpoint) = self.checkpoints.last() {
            if checkpoint.seq > entry.seq {
                break;
            }
            if checkpoint.seq == entry.seq && checkpoint.hash != hash {
                return Err(Tamper::CheckpointMismatch {
                    seq: checkpoint.seq,
                    at_ms: checkpoint.at_ms,
                });
            }
            self.checkpoints.pop();
        }
        Ok(())
    }

    /// After the last line: the log's end, if no checkpoint lies past it.
    pub fn finish(self) -> Result<Chain, Tamper> {
        // Every checkpoint left lies past the last entry; the earliest says where the cut is.
        match self.checkpoints.last() {
            Some(checkpoint) if checkpoint.seq > self.chain.last_seq => Err(Tamper::Truncated {
                last: self.chain.last_seq,
                seq: checkpoint.seq,
                at_ms: checkpoint.at_ms,
            }),
            // A checkpoint of entry 0 (an empty log) matches the genesis or nothing.
            _ => Ok(self.chain),
        }
    }

    /// Entries verified so far.
    pub fn entries(&self) -> u64 {
        self.chain.last_seq
    }
}
