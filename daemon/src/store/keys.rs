//! Key layout of the one sled tree. Every key starts with a one-byte table tag, so a single
//! atomic `Batch` can change queue, inbox and dedup entries together. (Expiry times and
//! depths are indexed in memory, by the ledger: see `engine/ledger/index.rs`; queue keys
//! are the ledger's `QueueKey`s as they are.)
//!
//! - `q` hop_len hop rank seq: a message queued for next hop `hop` (value: record)
//! - `i` seq: a message in the local inbox (value: record)
//! - `s` origin_len origin id: dedup entry (value: expires_at); in the custody log and in
//!   memory only: checkpoints pack them into `t` parts (stores written before parts keep
//!   `s` keys in sled)
//! - `t` origin_len origin id_time checkpoint number: dedup part, the ids of one origin's
//!   quarter second that one checkpoint moved (see `seen_parts.rs`)
//! - `m` name: metadata (value: u64)
//! - `a` id: the local API's note on a message this node sent (value: the API's encoding)
//! - `r` key: a reference database record (value: the services' encoding)
//! - `v` id: a notice request awaiting review at the hub (value: the signed envelope as
//!   received, protobuf `SignedEnvelope`)
//! - `d` node_id: what a linked peer's certificate certifies (value:
//!   `release::Member::encode`; see `engine/release.rs`)
//! - `n` notice_ref: the notice register's entry (value: the publication applied, protobuf
//!   `SignedEnvelope`; see `engine/register.rs`)
//!
//! - `x` seq: a copy held in quarantine (value: where it was going, `HeldFor::encode`, then
//!   the record; see `engine/quarantine.rs`)
//! - `u` node_id: a quarantine rule (value: since, Unix ms, i64)
//!
//! Integers are big-endian so that sled's byte order is numeric order; within one next hop,
//! queue keys sort by precedence rank, then arrival sequence.

use bluehelm_proto::{MessageRef, NodeId, Precedence};

pub use crate::engine::ledger::{QueueKey, QUEUE};
pub const INBOX: u8 = b'i';
pub const SEEN: u8 = b's';
/// Reference database records (`Write::Reference`): `r` + the services' own key.
pub const REFERENCE: u8 = b'r';
/// Notice requests awaiting review at the hub (`Write::Review`): `v` + message id.
pub const REVIEW: u8 = b'v';
/// The notice register (`Write::Notice`): `n` + notice reference.
pub const NOTICE: u8 = b'n';
/// The directory of certified identities (`Write::Identity`): `d` + node id.
pub const IDENTITY: u8 = b'd';
/// Table tag of the local API's notes (`Write::Note`): `a` + message id.
pub const NOTE: u8 = b'a';
pub const META_NEXT_SEQ: &[u8] = b"mseq";
/// Copies held in quarantine (`Write::Quarantine`, `Write::Hold`): `x` + sequence number.
pub const HELD: u8 = b'x';
/// Quarantine rules (`Write::QuarantineRule`): `u` + node id.
pub const RULE: u8 = b'u';

pub fn held_key(id: u64) -> [u8; 9] {
    seq_key(HELD, id)
}

pub fn held_id(key: &[u8]) -> Option<u64> {
    seq_of(HELD, key)
}

/// Key of a quarantine rule: `u` + node id.
pub fn rule_key(node: &NodeId) -> Vec<u8> {
    let mut out = Vec::with_capacity(node.as_str().len() + 1);
    out.push(RULE);
    out.extend_from_slice(node.as_str().as_bytes());
    out
}

/// Prefix of all queue keys of one next hop, or of one precedence class of it.
pub fn queue_prefix(next_hop: &NodeId, precedence: Option<Precedence>) -> Vec<u8> {
    QueueKey::prefix(next_hop, precedence)
}

pub fn inbox_key(seq: u64) -> [u8; 9] {
    seq_key(INBOX, seq)
}

pub fn inbox_seq(key: &[u8]) -> Option<u64> {
    seq_of(INBOX, key)
}

/// `tag` + a sequence number: the keys of the inbox and of quarantine.
fn seq_key(tag: u8, seq: u64) -> [u8; 9] {
    let mut key = [tag; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn seq_of(tag: u8, key: &[u8]) -> Option<u64> {
    match key.split_first() {
        Some((t, rest)) if *t == tag => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The longest dedup key: tag, length, a node id of at most 63 bytes, a message id.
pub const SEEN_KEY_MAX: usize = 2 + 63 + 16;

/// The dedup key of `message` in a buffer on the stack, for lookups on the hot path.
pub fn seen_key_buf(message: &MessageRef) -> ([u8; SEEN_KEY_MAX], usize) {
    let origin = message.origin.as_str().as_bytes();
    let mut key = [0u8; SEEN_KEY_MAX];
    // Node ids are at most 63 bytes (bluehelm_proto::NodeId): the key fits.
    let len = 2 + origin.len() + 16;
    key[0] = SEEN;
    key[1] = origin.len() as u8;
    key[2..2 + origin.len()].copy_from_slice(origin);
    key[2 + origin.len()..len].copy_from_slice(message.id.as_bytes());
    (key, len)
}

pub fn seen_key(message: &MessageRef) -> Vec<u8> {
    let origin = message.origin.as_str().as_bytes();
    let mut key = Vec::with_capacity(origin.len() + 18);
    key.push(SEEN);
    key.push(origin.len() as u8);
    key.extend_from_slice(origin);
    key.extend_from_slice(message.id.as_bytes());
    key
}

/// Key of a notice request awaiting review: `v` + message id (see `Write::Review`).
pub fn review_key(id: &bluehelm_proto::MessageId) -> [u8; 17] {
    let mut key = [REVIEW; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// Key of the local API's note on a message: `a` + message id (see `Write::Note`).
pub fn note_key(id: &bluehelm_proto::MessageId) -> [u8; 17] {
    let mut key = [NOTE; 17];
    key[1..].copy_from_slice(id.as_bytes());
    key
}

/// Key of a reference database record: `r` + the services' key (see `Write::Reference`).
/// `r` sorts after the queue (`q`) and before the dedup table (`s`); every scan of those
/// checks its own prefix, so records never mix with them.
pub fn reference_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(REFERENCE);
    out.extend_from_slice(key);
    out
}

/// Key of the notice register's entry for a reference: `n` + reference (see
/// `Write::Notice`).
pub fn notice_key(notice_ref: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(notice_ref.len() + 1);
    out.push(NOTICE);
    out.extend_from_slice(notice_ref.as_bytes());
    out
}

/// Key of a node's directory entry: `d` + node id (see `Write::Identity`).
pub fn identity_key(node: &NodeId) -> Vec<u8> {
    let mut out = Vec::with_capacity(node.as_str().len() + 1);
    out.push(IDENTITY);
    out.extend_from_slice(node.as_str().as_bytes());
    out
}

pub fn decode_time(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(inbox_seq(b"i123"), None);
    }

    #[test]
    fn dedup_keys_on_the_stack_are_the_dedup_keys() {
        let message = MessageRef {
            origin: "a".repeat(63).parse().unwrap(),
            id: bluehelm_proto::MessageId::from([7; 16]),
        };
        let (buf, len) = seen_key_buf(&message);
        assert_eq!(&buf[..len], seen_key(&message).as_slice());
        assert_eq!(len, SEEN_KEY_MAX);
    }
}
