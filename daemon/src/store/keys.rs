//! Key layout of the one sled tree. Every key starts with a one-byte table tag, so a single
//! atomic `Batch` can change queue, inbox and dedup entries together. (Expiry times and
//! depths are indexed in memory: see `index.rs`.)
//!
//! - `q` hop_len hop rank seq: a message queued for next hop `hop` (value: record)
//! - `i` seq: a message in the local inbox (value: record)
//! - `s` origin_len origin id: dedup entry (value: expires_at)
//! - `m` name: metadata (value: u64)
//! - `r` key: a reference database record (value: the services' encoding)
//! - `v` id: a notice request awaiting review at the hub (value: the signed envelope as
//!   received, protobuf `SignedEnvelope`)
//!
//! Integers are big-endian so that sled's byte order is numeric order; within one next hop,
//! queue keys sort by precedence rank, then arrival sequence.

use bluehelm_proto::{MessageRef, NodeId, Precedence};

pub const QUEUE: u8 = b'q';
pub const INBOX: u8 = b'i';
pub const SEEN: u8 = b's';
/// Reference database records (`Write::Reference`): `r` + the services' own key.
pub const REFERENCE: u8 = b'r';
/// Notice requests awaiting review at the hub (`Write::Review`): `v` + message id.
pub const REVIEW: u8 = b'v';
pub const META_NEXT_SEQ: &[u8] = b"mseq";

/// The key of one queued message copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey(Vec<u8>);

impl QueueKey {
    pub fn new(next_hop: &NodeId, precedence: Precedence, seq: u64) -> Self {
        let mut key = queue_prefix(next_hop, Some(precedence));
        key.extend_from_slice(&seq.to_be_bytes());
        Self(key)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (hop, rank, seq) = split_queue_key(bytes)?;
        let hop: NodeId = std::str::from_utf8(hop).ok()?.parse().ok()?;
        let precedence = Precedence::from_rank(rank)?;
        Some(Self::new(&hop, precedence, seq))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The next hop this copy waits for.
    pub fn next_hop(&self) -> NodeId {
        let (hop, _, _) = split_queue_key(&self.0).expect("built by QueueKey::new");
        let hop = std::str::from_utf8(hop).expect("built from a NodeId");
        hop.parse().expect("built from a NodeId")
    }

    /// The precedence class of this copy.
    pub fn precedence(&self) -> Option<Precedence> {
        let (_, rank, _) = split_queue_key(&self.0)?;
        Precedence::from_rank(rank)
    }

    pub fn seq(&self) -> u64 {
        split_queue_key(&self.0).expect("built by QueueKey::new").2
    }
}

fn split_queue_key(bytes: &[u8]) -> Option<(&[u8], u8, u64)> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != QUEUE || rest.len() != len as usize + 9 {
        return None;
    }
    let (hop, rest) = rest.split_at(len as usize);
    let seq = u64::from_be_bytes(rest[1..9].try_into().ok()?);
    Some((hop, rest[0], seq))
}

/// Prefix of all queue keys of one next hop, or of one precedence class of it.
pub fn queue_prefix(next_hop: &NodeId, precedence: Option<Precedence>) -> Vec<u8> {
    let hop = next_hop.as_str().as_bytes();
    let mut key = Vec::with_capacity(hop.len() + 11);
    key.push(QUEUE);
    // Node ids are at most 63 bytes (bluehelm_proto::NodeId), so the length fits a byte.
    key.push(hop.len() as u8);
    key.extend_from_slice(hop);
    if let Some(p) = precedence {
        key.push(p.rank());
    }
    key
}

pub fn inbox_key(seq: u64) -> [u8; 9] {
    let mut key = [INBOX; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub fn inbox_seq(key: &[u8]) -> Option<u64> {
    match key {
        [INBOX, rest @ ..] => Some(u64::from_be_bytes(rest.try_into().ok()?)),
        _ => None,
    }
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

pub fn decode_time(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keys_sort_by_precedence_then_arrival() {
        let hop: NodeId = "mission.unmiss".parse().unwrap();
        let routine_first = QueueKey::new(&hop, Precedence::Routine, 1);
        let flash_later = QueueKey::new(&hop, Precedence::Flash, 2);
        let flash_last = QueueKey::new(&hop, Precedence::Flash, 300);
        assert!(flash_later < flash_last);
        assert!(flash_last < routine_first);
        assert_eq!(
            QueueKey::from_bytes(flash_last.as_bytes()),
            Some(flash_last.clone())
        );
        assert_eq!(flash_last.next_hop(), hop);
        assert_eq!(flash_last.seq(), 300);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(QueueKey::from_bytes(b""), None);
        assert_eq!(QueueKey::from_bytes(b"q\x05gs"), None);
        assert_eq!(inbox_seq(b"i123"), None);
    }
}
