//! The stored form of a message copy: routing facts the node needs without decoding the
//! envelope, then the signed envelope exactly as it arrived (it is forwarded byte for byte).
//! The record itself is the ledger's (`engine::ledger::StoredMessage`); its bytes are the
//! store's.

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};
use bytes::Bytes;

use super::error::Corruption;
pub use crate::engine::ledger::StoredMessage;

const VERSION: u8 = 1;

impl StoredMessage {
    pub fn encode(&self) -> Vec<u8> {
        let origin = self.message.origin.as_str().as_bytes();
        let mut out = Vec::with_capacity(64 + self.signed.len());
        out.push(VERSION);
        out.push(self.hops);
        out.push(self.precedence.rank());
        out.extend_from_slice(&self.expires_at_ms.to_be_bytes());
        out.extend_from_slice(&self.accepted_at_ms.to_be_bytes());
        out.push(origin.len() as u8);
        out.extend_from_slice(origin);
        out.extend_from_slice(self.message.id.as_bytes());
        out.extend_from_slice(&(self.recipients.len() as u16).to_be_bytes());
        for recipient in &self.recipients {
            let r = recipient.as_str().as_bytes();
            out.push(r.len() as u8);
            out.extend_from_slice(r);
        }
        out.extend_from_slice(&self.signed);
        out
    }

    /// Reads a record back; what is wrong with it, if it is not one. The signed envelope is
    /// a slice of `bytes`, not a copy.
    pub fn decode(bytes: &Bytes) -> Result<Self, Corruption> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(Corruption::UnknownVersion(version));
        }
        let hops = r.u8()?;
        let rank = r.u8()?;
        let precedence = Precedence::from_rank(rank).ok_or(Corruption::BadPrecedence(rank))?;
        let expires_at_ms = i64::from_be_bytes(r.array()?);
        let accepted_at_ms = i64::from_be_bytes(r.array()?);
        let origin = r.node_id()?;
        let id = MessageId::from_bytes(r.take(16)?).map_err(|_| Corruption::BadMessageId)?;
        let count = u16::from_be_bytes(r.array()?);
        let mut recipients = Vec::with_capacity(usize::from(count).min(256));
        for _ in 0..count {
            recipients.push(r.node_id()?);
        }
        Ok(Self {
            message: MessageRef { origin, id },
            precedence,
            expires_at_ms,
            hops,
            recipients,
            signed: bytes.slice(bytes.len() - r.0.len()..),
            accepted_at_ms,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Corruption> {
        if self.0.len() < n {
            return Err(Corruption::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Corruption> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Corruption> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn node_id(&mut self) -> Result<NodeId, Corruption> {
        let len = self.u8()? as usize;
        std::str::from_utf8(self.take(len)?)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Corruption::BadNodeId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_rejects_truncation() {
        let record = StoredMessage {
            message: MessageRef {
                origin: "ncb.fr".parse().unwrap(),
                id: MessageId::generate(1_000),
            },
            precedence: Precedence::Immediate,
            expires_at_ms: 99_000,
            hops: 2,
            recipients: vec!["ncb.ke".parse().unwrap(), "mission.unmiss".parse().unwrap()],
            signed: vec![7; 300].into(),
            accepted_at_ms: 1_500,
        };
        let bytes = Bytes::from(record.encode());
        assert_eq!(StoredMessage::decode(&bytes).unwrap(), record);
        for cut in 0..40 {
            assert!(StoredMessage::decode(&bytes.slice(..cut)).is_err());
        }
    }
}
