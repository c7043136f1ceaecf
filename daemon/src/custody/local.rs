//! What a local application does with its node: submit messages, read and acknowledge the
//! inbox. Issue 4 puts the gRPC API and the CLI on top of these calls.

use std::collections::HashMap;
use std::time::Duration;

use bluehelm_pki::SignError;
use bluehelm_proto::{
    glance, Body, Destination, Envelope, Glance, MessageId, Precedence, Refusal, ReleaseList,
    SignedEnvelope,
};

use super::audited;
use super::bulk::Bulk;
use super::shell::{own_custody_signed, unsignable};
use super::state::{hub, now_ms, Core, Stats};
use crate::engine::audit::Entry as AuditEntry;
use crate::engine::register;
use crate::store::{Corruption, Entry, InboxEntry, StoreError, Write, WriteOutcome};

/// Default hop limit of messages this node originates: far above any sane path length, low
/// enough to stop a routing loop quickly.
pub const DEFAULT_HOP_LIMIT: u8 = 16;

/// Batches up to this size are signed on the calling task.
const INLINE_SIGN_MAX: usize = 8;

/// Envelopes signed together, each with its signed form (issue 16, item 1), in order.
type Signed = Vec<(Envelope, SignedEnvelope)>;

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
    /// The owner's release marking; `None`: releasable to the whole network.
    pub release_to: Option<ReleaseList>,
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("message refused: {}: {}", .0.reason, .0.detail)]
    Refused(Refusal),
    #[error("message is invalid: {0}")]
    Invalid(String),
    /// The CRL in force revokes this node's own certificate (issue 14): it sends nothing.
    #[error("not sent: {0}")]
    CertificateRevoked(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bug stopped the work (it is in the node's log): nothing was taken into custody.
    #[error("internal error: {0}; nothing was sent: see the node's log and report it")]
    Internal(&'static str),
}

/// A message in the inbox, verified when it was received.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Acknowledge with this number.
    pub seq: u64,
    pub envelope: Envelope,
    pub signed: SignedEnvelope,
}

/// An inbox message as [`Core::inbox_glanced`] reads it.
#[derive(Debug)]
pub enum Glanced {
    /// Plain at a glance: only its number.
    Plain {
        seq: u64,
    },
    Decoded(Box<Delivered>),
}

impl Core {
    /// Signs and takes custody of messages from a local application, with `extra` store
    /// writes in the same atomic commit; returns their ids once they are durable here. All
    /// or none: one refusal refuses the whole batch.
    ///
    /// A diffusion from any node but the hub also sends the hub a copy for its record (issue
    /// 4): same body and precedence, correlated with the diffusion's id, committed with it.
    pub(super) async fn submit_with(
        &self,
        batch: Vec<Outgoing>,
        extra: Vec<Write>,
    ) -> Result<Vec<MessageId>, SubmitError> {
        if let Some(why) = self.standing().revoked_because() {
            return Err(SubmitError::CertificateRevoked(why));
        }
        let now = now_ms();
        let mut envelopes = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        for out in batch {
            let copy = self.hub_copy(&out);
            let envelope = self.envelope(out, None, now)?;
            let id = envelope.message_id;
            ids.push(id);
            envelopes.push(envelope);
            if let Some(copy) = copy {
                envelopes.push(self.envelope(copy, Some(id), now)?);
            }
        }
        self.take_custody(envelopes, extra, now).await?;
        Ok(ids)
    }

    /// Seals the body of `out` to `recipients` (issue 14, item 4), signs the envelope (so the
    /// signature covers the ciphertext) and takes custody of it; returns its id once durable.
    ///
    /// A sealed diffusion sends the hub no copy: the hub could not read it, and it sees the
    /// envelope's headers anyway where it relays the message.
    pub(super) async fn submit_sealed(
        &self,
        out: Outgoing,
        recipients: &[bluehelm_pki::seal::SealRecipient],
    ) -> Result<MessageId, SubmitError> {
        let now = now_ms();
        let mut envelope = self.envelope(out, None, now)?;
        let at = bluehelm_pki::seal::SealBinding {
            message_id: envelope.message_id,
            origin: envelope.origin.clone(),
        };
        let sealed = bluehelm_pki::seal::seal(&envelope.body, &at, recipients)
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        envelope.body = Body::Sealed(sealed);
        envelope
            .validate()
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        let id = envelope.message_id;
        self.take_custody(vec![envelope], Vec::new(), now).await?;
        Ok(id)
    }

    /// Signs `envelopes` and commits them into custody with `extra`, in one commit.
    async fn take_custody(
        &self,
        envelopes: Vec<Envelope>,
        extra: Vec<Write>,
        now: i64,
    ) -> Result<(), SubmitError> {
        let refuse = |refusal: Refusal| {
            self.audit().record(audited::refused(&refusal, None, now));
            SubmitError::Refused(refusal)
        };
        let mut writes = Vec::with_capacity(envelopes.len() + extra.len());
        let mut publications = Vec::new();
        let mut audit = Vec::new();
        let signed = match self.sign_all(envelopes).await? {
            Ok(signed) => signed,
            Err(refusal) => return Err(refuse(refusal)),
        };
        for (envelope, signed) in signed {
            let custody = own_custody_signed(self, &envelope, signed, now).map_err(refuse)?;
            if self.audit().is_enabled() {
                audit.extend(audited::taken(&envelope, &custody, now));
                audited::report_taken(&custody, now, &mut audit);
            }
            // Checked by the custody shell (it carries its verified request): this node's
            // register keeps what it publishes, in the same commit (issue 12, item 3).
            if matches!(&envelope.body, Body::Notice(n) if register::is_publication(n)) {
                publications.push((envelope, custody.message.signed.clone()));
            }
            writes.push(Write::Accept(custody));
        }
        let count = writes.len() as u64;
        let mut by_class = [0u64; 4];
        for write in &writes {
            if let Write::Accept(custody) = write {
                by_class[usize::from(custody.message.precedence.rank())] += 1;
            }
        }
        let (notices, entries) = self.register_writes(
            publications
                .iter()
                .map(|(envelope, signed)| (envelope, &signed[..])),
        );
        writes.extend(extra);
        writes.extend(notices);
        self.store().commit(writes).await?;
        self.remember(entries);
        self.audit().record_all(audit);
        Stats::add(&self.stats().accepted, count);
        for (class, n) in Precedence::ALL.iter().zip(by_class) {
            self.stats().traffic.taken(*class, n);
        }
        Ok(())
    }

    /// Signs envelopes as one batch (issue 16, item 1): one signature over the Merkle root of
    /// their encodings, each envelope with its own inclusion proof; a lone message is a batch
    /// of one and waits for no other. A large batch of ROUTINE and PRIORITY messages is
    /// signed on a bulk thread, so that it neither holds an async worker for milliseconds nor
    /// delays urgent traffic. The inner error refuses the batch: one envelope is too large to
    /// travel.
    async fn sign_all(
        &self,
        envelopes: Vec<Envelope>,
    ) -> Result<Result<Signed, Refusal>, SubmitError> {
        let in_bulk = envelopes.len() > INLINE_SIGN_MAX
            && envelopes.iter().all(|e| Bulk::takes(e.precedence));
        let signer = self.signer().clone();
        let sign = move || -> Result<Signed, Refusal> {
            let encoded = envelopes.iter().map(Envelope::encode_to_vec).collect();
            match signer.sign_batch(encoded) {
                Ok(signed) => Ok(envelopes.into_iter().zip(signed).collect()),
                Err(SignError::Envelope { index, source }) => {
                    // sign_batch names an envelope of the batch: `index` is in range.
                    Err(unsignable(&envelopes[index], &source))
                }
                // More than 2^32 envelopes (so `envelopes[0]` exists): never, but refused.
                Err(e @ SignError::TooLarge(_)) => Err(unsignable(&envelopes[0], &e)),
            }
        };
        if !in_bulk {
            return Ok(sign());
        }
        self.bulk()
            .run(sign)
            .await
            .ok_or(SubmitError::Internal("signing the batch failed"))
    }

    /// The hub's copy of a diffusion, when this message is one that the hub would not see
    /// as its destination.
    fn hub_copy(&self, out: &Outgoing) -> Option<Outgoing> {
        let hub = hub();
        let is_diffusion = matches!(out.body, Body::Diffusion(_));
        if !is_diffusion || *self.me() == hub || out.destination == Destination::Node(hub.clone()) {
            return None;
        }
        Some(Outgoing {
            destination: Destination::Node(hub),
            want_delivery_report: false,
            ..out.clone()
        })
    }

    /// A new envelope from this node; `copy_of` becomes the correlation id of a copy.
    fn envelope(
        &self,
        out: Outgoing,
        copy_of: Option<MessageId>,
        now: i64,
    ) -> Result<Envelope, SubmitError> {
        let ttl_ms = i64::try_from(out.ttl.as_millis()).unwrap_or(i64::MAX);
        let envelope = Envelope {
            message_id: MessageId::generate(now as u64),
            origin: self.me().clone(),
            destination: out.destination,
            precedence: out.precedence,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl_ms.max(1)),
            correlation_id: copy_of.or(out.correlation_id),
            hop_limit: DEFAULT_HOP_LIMIT,
            want_delivery_report: out.want_delivery_report,
            release_to: out.release_to,
            body: out.body,
        };
        envelope
            .validate()
            .map_err(|e| SubmitError::Invalid(e.to_string()))?;
        Ok(envelope)
    }

    /// Inbox messages after `after_seq`, oldest first.
    pub(super) async fn inbox(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Delivered>, StoreError> {
        let entries = self.store().inbox(after_seq, limit).await?;
        entries
            .into_iter()
            .map(|entry| self.delivered(entry))
            .collect()
    }

    /// An inbox entry decoded for a reader; its audit entry is noted, ready for the
    /// acknowledgement.
    fn delivered(&self, entry: InboxEntry) -> Result<Delivered, StoreError> {
        // Verified on receipt and stored as received: a decode failure is disk corruption.
        let corrupt = |e: bluehelm_proto::DecodeError| {
            StoreError::corrupt(Entry::inbox(entry.seq), Corruption::Envelope(e))
        };
        let signed = SignedEnvelope::decode_shared(entry.message.signed).map_err(corrupt)?;
        let envelope = signed.decode_envelope().map_err(corrupt)?;
        if self.audit().is_enabled() {
            self.handed_out().note(entry.seq, &envelope);
        }
        Ok(Delivered {
            seq: entry.seq,
            envelope,
            signed,
        })
    }

    /// [`Core::inbox`] for a reader that acts on few messages: those that `plain` accepts at
    /// a glance (`bluehelm_proto::glance`) come back by number only, not decoded.
    pub(super) async fn inbox_glanced(
        &self,
        after_seq: Option<u64>,
        limit: usize,
        plain: fn(&Glance<'_>) -> bool,
    ) -> Result<Vec<Glanced>, StoreError> {
        let entries = self.store().inbox(after_seq, limit).await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if glance(&entry.message.signed).is_some_and(|g| plain(&g)) {
                out.push(Glanced::Plain { seq: entry.seq });
                continue;
            }
            out.push(Glanced::Decoded(Box::new(self.delivered(entry)?)));
        }
        Ok(out)
    }

    /// The application has these messages: remove them from the inbox (one commit).
    /// Returns how many were there; acknowledging twice removes nothing the second time.
    pub(super) async fn ack_inbox(&self, seqs: &[u64]) -> Result<usize, StoreError> {
        // The audit log's "read" entries: ready since the messages were read, or read back.
        let mut read: HashMap<u64, AuditEntry> = HashMap::new();
        if self.audit().is_enabled() {
            let mut unknown = Vec::new();
            for &seq in seqs {
                match self.handed_out().take(seq) {
                    Some(entry) => {
                        read.insert(seq, entry);
                    }
                    None => unknown.push(seq),
                }
            }
            if !unknown.is_empty() {
                for delivered in self.inbox_entries(&unknown).await? {
                    read.insert(delivered.seq, audited::read(&delivered.envelope, 0));
                }
            }
        }
        let writes = seqs.iter().map(|s| Write::AckInbox(*s)).collect();
        let outcomes = self.store().commit(writes).await?;
        let now = now_ms();
        let mut entries = Vec::with_capacity(read.len());
        for (seq, outcome) in seqs.iter().zip(&outcomes) {
            if *outcome != WriteOutcome::Removed {
                continue;
            }
            if let Some(mut entry) = read.remove(seq) {
                entry.at_ms = now;
                entries.push(entry);
            }
        }
        self.audit().record_all(entries);
        Ok(outcomes
            .iter()
            .filter(|o| **o == WriteOutcome::Removed)
            .count())
    }

    /// The inbox messages numbered `seqs` that are still there: one read per run of
    /// consecutive numbers (an application acknowledges what it read, in order).
    async fn inbox_entries(&self, seqs: &[u64]) -> Result<Vec<Delivered>, StoreError> {
        let mut sorted = seqs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut out = Vec::with_capacity(sorted.len());
        let mut runs = sorted.chunk_by(|a, b| b.checked_sub(*a) == Some(1));
        for run in &mut runs {
            let (mut after, last) = (run[0].checked_sub(1), run[run.len() - 1]);
            // A read may stop short (it is capped in bytes): read on until the run is covered.
            loop {
                let left = usize::try_from(last - after.map_or(0, |a| a + 1) + 1).unwrap_or(1);
                let page = self.inbox(after, left).await?;
                let Some(end) = page.last().map(|d| d.seq) else {
                    break;
                };
                out.extend(page);
                if end >= last {
                    break;
                }
                after = Some(end);
            }
        }
        out.retain(|d| sorted.binary_search(&d.seq).is_ok());
        Ok(out)
    }
}
