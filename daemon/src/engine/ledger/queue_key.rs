//! The name of one queued copy: its next hop, its precedence class and its sequence number.
//! It is kept as the bytes of the store's key for that copy (`q` hop_len hop rank seq, see
//! `store/keys.rs`), so that the store uses it as it is and a copy is named the same way in
//! the ledger, the store and the links, with no conversion on the hot path.
//!
//! Integers are big-endian, so byte order is numeric order: within one next hop, keys sort by
//! precedence rank, then arrival.

use bluehelm_proto::{NodeId, Precedence};

/// Table tag of queued copies in the store's key space.
pub const QUEUE: u8 = b'q';

/// The key of one queued message copy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueKey(Vec<u8>);

impl QueueKey {
    pub fn new(next_hop: &NodeId, precedence: Precedence, seq: u64) -> Self {
        let mut key = Self::prefix(next_hop, Some(precedence));
        key.extend_from_slice(&seq.to_be_bytes());
        Self(key)
    }

    /// Prefix of all queue keys of one next hop, or of one precedence class of it.
    pub fn prefix(next_hop: &NodeId, precedence: Option<Precedence>) -> Vec<u8> {
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

    /// The key in `bytes`, if they are one (a store key read back from disk).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (hop, rank, seq) = split(bytes)?;
        let hop: NodeId = std::str::from_utf8(hop).ok()?.parse().ok()?;
        let precedence = Precedence::from_rank(rank)?;
        Some(Self::new(&hop, precedence, seq))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The next hop this copy waits for.
    pub fn next_hop(&self) -> NodeId {
        let hop = std::str::from_utf8(self.hop_bytes()).expect("built from a NodeId");
        hop.parse().expect("built from a NodeId")
    }

    /// The next hop's id as bytes, without making a `NodeId` (for lookups on the hot path).
    pub fn hop_bytes(&self) -> &[u8] {
        split(&self.0).expect("built by QueueKey::new").0
    }

    /// The precedence class of this copy.
    pub fn precedence(&self) -> Option<Precedence> {
        let (_, rank, _) = split(&self.0)?;
        Precedence::from_rank(rank)
    }

    pub fn seq(&self) -> u64 {
        split(&self.0).expect("built by QueueKey::new").2
    }
}

fn split(bytes: &[u8]) -> Option<(&[u8], u8, u64)> {
    let (&tag, rest) = bytes.split_first()?;
    let (&len, rest) = rest.split_first()?;
    if tag != QUEUE || rest.len() != len as usize + 9 {
        return None;
    }
    let (hop, rest) = rest.split_at(len as usize);
    let seq = u64::from_be_bytes(rest[1..9].try_into().ok()?);
    Some((hop, rest[0], seq))
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
        assert_eq!(flash_last.hop_bytes(), b"mission.unmiss");
        assert_eq!(flash_last.seq(), 300);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        assert_eq!(QueueKey::from_bytes(b""), None);
        assert_eq!(QueueKey::from_bytes(b"q\x05gs"), None);
    }
}
