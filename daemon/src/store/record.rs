//! The stored form of a message copy: routing facts the node needs without decoding the
//! envelope, then the signed envelope exactly as it arrived (it is forwarded byte for byte).

use bluehelm_proto::{MessageId, MessageRef, NodeId, Precedence};

use super::StoreError;

const VERSION: u8 = 1;

/// One message copy held in custody: queued for a next hop, or in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub message: MessageRef,
    pub precedence: Precedence,
    pub expires_at_ms: i64,
    /// Relay hops taken so far, as it will be offered to the next hop.
    pub hops: u8,
    /// Final recipients resolved by a group or service fan-out; empty when the envelope's own
    /// destination says where it goes.
    pub recipients: Vec<NodeId>,
    /// The encoded `SignedEnvelope`, as received.
    pub signed: Vec<u8>,
    /// When this node took custody (Unix ms), for queue age reporting.
    pub accepted_at_ms: i64,
}

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

    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(StoreError::Corrupt("unknown record version".into()));
        }
        let hops = r.u8()?;
        let precedence = Precedence::from_rank(r.u8()?)
            .ok_or_else(|| StoreError::Corrupt("bad precedence in record".into()))?;
        let expires_at_ms = i64::from_be_bytes(r.array()?);
        let accepted_at_ms = i64::from_be_bytes(r.array()?);
        let origin = r.node_id()?;
        let id = MessageId::from_bytes(r.take(16)?)
            .map_err(|e| StoreError::Corrupt(format!("bad message id in record: {e}")))?;
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
            signed: r.0.to_vec(),
            accepted_at_ms,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(StoreError::Corrupt("truncated record".into()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn node_id(&mut self) -> Result<NodeId, StoreError> {
        let len = self.u8()? as usize;
        std::str::from_utf8(self.take(len)?)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("bad node id in record".into()))
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
            signed: vec![7; 300],
            accepted_at_ms: 1_500,
        };
        let bytes = record.encode();
        assert_eq!(StoredMessage::decode(&bytes).unwrap(), record);
        for cut in 0..40 {
            assert!(StoredMessage::decode(&bytes[..cut]).is_err());
        }
    }
}
