//! What a local application does with its node: submit messages, read and acknowledge the
//! inbox. Issue 4 puts the gRPC API and the CLI on top of these calls.

use std::time::Duration;

use bluehelm_proto::{Body, Destination, Envelope, MessageId, Precedence, Refusal, SignedEnvelope};

use super::core::{now_ms, Core, Stats};
use super::custody::own_custody;
use crate::store::{StoreError, Write, WriteOutcome};

/// Default hop limit of messages this node originates: far above any sane path length, low
/// enough to stop a routing loop quickly.
pub const DEFAULT_HOP_LIMIT: u8 = 16;

/// A message a local application wants sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub destination: Destination,
    pub precedence: Precedence,
    pub body: Body,
    /// How long the network may try to deliver it.
    pub ttl: Duration,
    pub want_delivery_report: bool,
    pub correlation_id: Option<MessageId>,
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("message refused: {}: {}", .0.reason, .0.detail)]
    Refused(Refusal),
    #[error("message is invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message in the inbox, verified when it was received.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Acknowledge with this number.
    pub seq: u64,
    pub envelope: Envelope,
    pub signed: SignedEnvelope,
}

impl Core {
    /// Signs and takes custody of messages from a local application; returns their ids once
    /// they are durable here. All or none: one refusal refuses the whole batch.
    pub async fn submit(&self, batch: Vec<Outgoing>) -> Result<Vec<MessageId>, SubmitError> {
        let now = now_ms();
        let mut writes = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        for out in batch {
            let ttl_ms = i64::try_from(out.ttl.as_millis()).unwrap_or(i64::MAX);
            let envelope = Envelope {
                message_id: MessageId::generate(now as u64),
                origin: self.me.clone(),
                destination: out.destination,
                precedence: out.precedence,
                created_at_ms: now,
                expires_at_ms: now.saturating_add(ttl_ms.max(1)),
                correlation_id: out.correlation_id,
                hop_limit: DEFAULT_HOP_LIMIT,
                want_delivery_report: out.want_delivery_report,
                body: out.body,
            };
            envelope
                .validate()
                .map_err(|e| SubmitError::Invalid(e.to_string()))?;
            let custody = own_custody(self, &envelope, now).map_err(SubmitError::Refused)?;
            ids.push(envelope.message_id);
            writes.push(Write::Accept(custody));
        }
        let count = writes.len() as u64;
        self.store.commit(writes).await?;
        Stats::add(&self.stats.accepted, count);
        Ok(ids)
    }

    /// Inbox messages after `after_seq`, oldest first.
    pub async fn inbox(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Delivered>, StoreError> {
        let entries = self.store.inbox(after_seq, limit).await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            // Verified on receipt and stored as received: a decode failure is disk corruption.
            let signed = SignedEnvelope::decode(&entry.message.signed)
                .map_err(|e| StoreError::Corrupt(format!("inbox {}: {e}", entry.seq)))?;
            let envelope = signed
                .decode_envelope()
                .map_err(|e| StoreError::Corrupt(format!("inbox {}: {e}", entry.seq)))?;
            out.push(Delivered {
                seq: entry.seq,
                envelope,
                signed,
            });
        }
        Ok(out)
    }

    /// The application has these messages: remove them from the inbox (one commit).
    /// Returns how many were there; acknowledging twice removes nothing the second time.
    pub async fn ack_inbox(&self, seqs: &[u64]) -> Result<usize, StoreError> {
        let writes = seqs.iter().map(|s| Write::AckInbox(*s)).collect();
        let outcomes = self.store.commit(writes).await?;
        Ok(outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::Removed)
            .count())
    }
}
