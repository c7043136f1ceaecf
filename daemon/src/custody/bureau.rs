//! The handle through which the local API (`api`), the reference services (`services`) and
//! the operator tools reach the node: what a bureau's applications may do, and nothing more.

use std::collections::BTreeMap;
use std::sync::Arc;

use bluehelm_pki::EnvelopeVerifier;
use bluehelm_proto::{Glance, MessageId, MessageRef, NodeId, Precedence};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::local::{Delivered, Glanced, Outgoing, SubmitError};
use super::quarantine::{Added, QuarantineError};
use super::queues::Purged;
use super::state::{Core, Stats};
use crate::engine::quarantine::{Rule, Rules};
use crate::engine::register::Entry;
use crate::records::store::RecordStore;
use crate::store::{ClassDepths, HeldEntry, Queued, ReviewEntry, StoreError, Write};

/// What the bureau side keeps in the store beside custody. Custody itself changes only
/// through [`BureauHandle::submit`] and the links: a bureau cannot queue, forget or give up
/// a copy, so every custody rule stays in `engine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The application has the inbox message with this sequence number.
    InboxRead(u64),
    /// The API's note on a message this node sent (see [`Write::Note`]).
    Note { id: MessageId, value: Vec<u8> },
    /// A reference database record (see [`Write::Reference`]).
    Reference { key: Vec<u8>, value: Vec<u8> },
    /// A notice request held for review at the hub (see [`Write::Review`]).
    Review { id: MessageId, value: Vec<u8> },
    /// The request left the review queue.
    Unreview(MessageId),
    /// The notice register's new entry for a publication received (see [`Write::Notice`]);
    /// merged into the node's register once it is durable.
    Notice(Box<Entry>),
}

impl From<Record> for Write {
    fn from(record: Record) -> Self {
        match record {
            Record::InboxRead(seq) => Write::AckInbox(seq),
            Record::Note { id, value } => Write::Note { id, value },
            Record::Reference { key, value } => Write::Reference { key, value },
            Record::Review { id, value } => Write::Review { id, value },
            Record::Unreview(id) => Write::Unreview(id),
            Record::Notice(entry) => entry.write(),
        }
    }
}

/// The register entries among `records`, to remember once they are durable.
fn notice_entries(records: &[Record]) -> Vec<Entry> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Notice(entry) => Some((**entry).clone()),
            _ => None,
        })
        .collect()
}

/// What a bureau's applications may do with their node: submit, read and acknowledge the
/// inbox, keep [`Record`]s, and look at queues, counters and settings. Cloning it clones an
/// `Arc`.
#[derive(Clone)]
pub struct BureauHandle {
    core: Arc<Core>,
}

impl BureauHandle {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// This node's id.
    pub fn me(&self) -> &NodeId {
        self.core.me()
    }

    /// The node's configuration in force (see [`Core::config`]).
    pub fn config(&self) -> super::ConfigGuard {
        self.core.config()
    }

    /// The node's counters.
    pub fn stats(&self) -> &Stats {
        self.core.stats()
    }

    /// Cancelled when the node stops.
    pub fn cancel(&self) -> &CancellationToken {
        self.core.cancel()
    }

    /// The node's audit log (issue 14, item 5).
    pub fn audit(&self) -> &crate::audit::AuditLog {
        self.core.audit()
    }

    /// Verifies envelopes and certificates against the trust store in force.
    pub fn verifier(&self) -> &EnvelopeVerifier {
        self.core.verifier()
    }

    /// The field databases (issue 13).
    pub fn records(&self) -> &Arc<RecordStore> {
        self.core.records()
    }

    /// This node's certificate identity.
    pub fn identity(&self) -> &bluehelm_pki::NodeIdentity {
        self.core.identity()
    }

    /// Signs this node's own record changes.
    pub fn record_signer(&self) -> std::sync::Arc<bluehelm_pki::Signer> {
        self.core.record_signer()
    }

    /// The node's certificate chain and key in force (the terminal listener's TLS). Kept in
    /// the crate: it holds the private key.
    pub(crate) fn credentials(&self) -> Arc<bluehelm_pki::NodeCredentials> {
        self.core.credentials()
    }

    /// This node's own certificate as the CRL in force judges it (`bluehelm status`).
    pub fn standing(&self) -> crate::engine::revocation::Standing {
        self.core.standing()
    }

    /// Quarantine (issue 14, item 3), an operator's call: keeps `rule` durably, holds every
    /// copy it catches (queued or in the inbox) and every later arrival it catches; at the
    /// hub, also sends every node it knows a signed warning. This is the one way bureau-side code
    /// moves copies in custody, and only into quarantine and back (the ledger decides).
    pub async fn quarantine_add(&self, rule: Rule) -> Result<Added, QuarantineError> {
        let held = self.core.quarantine(rule.clone()).await?;
        let warned = self.core.warn_nodes(&rule).await;
        Ok(Added { held, warned })
    }

    /// The quarantine rules in force.
    pub fn quarantine_rules(&self) -> Rules {
        self.core.quarantine_rules()
    }

    /// The copies held in quarantine, oldest first.
    pub async fn quarantined(&self) -> Result<Vec<HeldEntry>, StoreError> {
        self.core.store().held().await
    }

    /// Held copy `id`, if it is still held.
    pub async fn quarantined_one(&self, id: u64) -> Result<Option<HeldEntry>, StoreError> {
        self.core.store().held_one(id).await
    }

    /// Puts held copy `id` back where it was going (its queue or the inbox).
    pub async fn release_held(&self, id: u64) -> Result<HeldEntry, QuarantineError> {
        self.core.release_held(id).await
    }

    /// Deletes held copy `id`.
    pub async fn drop_held(&self, id: u64) -> Result<HeldEntry, QuarantineError> {
        self.core.drop_held(id).await
    }

    /// A quarantine warning delivered here ([`super::is_warning`]): acted on if the hub
    /// role signed it.
    pub async fn take_warning(&self, message: &Delivered) -> Result<(), StoreError> {
        self.core
            .take_warning(&message.envelope, &message.signed)
            .await
    }

    /// Signs and takes custody of messages from a local application; returns their ids once
    /// they are durable here. All or none: one refusal refuses the whole batch.
    pub async fn submit(&self, batch: Vec<Outgoing>) -> Result<Vec<MessageId>, SubmitError> {
        self.core.submit_with(batch, Vec::new()).await
    }

    /// Seals the message's body to `recipients`, then signs and takes custody of it like
    /// [`BureauHandle::submit`] (issue 14, item 4). The caller found the recipients' keys in
    /// the sealing directory and verified them against the trust store in force.
    pub async fn submit_sealed(
        &self,
        message: Outgoing,
        recipients: &[bluehelm_pki::seal::SealRecipient],
    ) -> Result<MessageId, SubmitError> {
        self.core.submit_sealed(message, recipients).await
    }

    /// [`BureauHandle::submit`], with `records` in the same atomic commit (the review
    /// queue's `Unreview` goes with the publication it caused).
    pub async fn submit_with(
        &self,
        batch: Vec<Outgoing>,
        records: Vec<Record>,
    ) -> Result<Vec<MessageId>, SubmitError> {
        let entries = notice_entries(&records);
        let extra = records.into_iter().map(Write::from).collect();
        let ids = self.core.submit_with(batch, extra).await?;
        self.core.remember(entries);
        Ok(ids)
    }

    /// Inbox messages after `after_seq`, oldest first, at most `limit`.
    pub async fn inbox(
        &self,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Delivered>, StoreError> {
        self.core.inbox(after_seq, limit).await
    }

    /// Inbox messages after `after_seq` as a reader that acts on few of them sees them: those
    /// that `plain` accepts at a glance by number only (see [`Glanced`]).
    pub async fn inbox_glanced(
        &self,
        after_seq: Option<u64>,
        limit: usize,
        plain: fn(&Glance<'_>) -> bool,
    ) -> Result<Vec<Glanced>, StoreError> {
        self.core.inbox_glanced(after_seq, limit, plain).await
    }

    /// The application has these messages: remove them from the inbox (one commit).
    /// Returns how many were there; acknowledging twice removes nothing the second time.
    pub async fn ack_inbox(&self, seqs: &[u64]) -> Result<usize, StoreError> {
        self.core.ack_inbox(seqs).await
    }

    /// Changes whenever a message enters the inbox.
    pub fn inbox_changes(&self) -> watch::Receiver<u64> {
        self.core.store().inbox_changes()
    }

    /// How many messages the inbox holds (one pass over its entries: it has no counter).
    pub async fn inbox_len(&self) -> Result<u64, StoreError> {
        const PAGE: usize = 4096;
        let mut count = 0u64;
        let mut cursor = None;
        loop {
            let page = self.core.store().inbox(cursor, PAGE).await?;
            count += page.len() as u64;
            match page.last() {
                Some(last) if page.len() == PAGE => cursor = Some(last.seq),
                _ => return Ok(count),
            }
        }
    }

    /// Keeps `records` atomically, durable when this returns.
    pub async fn keep(&self, records: Vec<Record>) -> Result<(), StoreError> {
        let entries = notice_entries(&records);
        let writes = records.into_iter().map(Write::from).collect();
        self.core.store().commit(writes).await?;
        self.core.remember(entries);
        Ok(())
    }

    /// The notice register's entry for a reference, if it holds one.
    pub fn notice(&self, notice_ref: &str) -> Option<Entry> {
        self.core.register().get(notice_ref).cloned()
    }

    /// Every entry of the notice register, by reference.
    pub fn notices(&self) -> Vec<Entry> {
        self.core.register().entries().cloned().collect()
    }

    /// The API's note on a message (see [`Record::Note`]), if any.
    pub async fn note(&self, id: MessageId) -> Result<Option<Vec<u8>>, StoreError> {
        self.core.store().note(id).await
    }

    /// A reference database record (see [`Record::Reference`]), if any.
    pub async fn reference(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        self.core.store().reference(key).await
    }

    /// The notice requests awaiting review, oldest id first.
    pub async fn reviews(&self) -> Result<Vec<ReviewEntry>, StoreError> {
        self.core.store().reviews().await
    }

    /// Whether this node holds or has handled each message.
    pub async fn seen(&self, messages: Vec<MessageRef>) -> Result<Vec<bool>, StoreError> {
        self.core.store().seen(messages).await
    }

    /// Next hops given up as silent (failover): their routes' traffic goes to the
    /// alternates until they are heard again. Sorted.
    pub fn failed_over(&self) -> Vec<NodeId> {
        self.core.failover().given_up().iter().cloned().collect()
    }

    /// Messages queued for `hop` right now.
    pub fn queue_depth(&self, hop: &NodeId) -> usize {
        self.core.store().depth(hop)
    }

    /// Queue depth per next hop.
    pub fn queue_depths(&self) -> BTreeMap<NodeId, usize> {
        self.core.store().depths()
    }

    /// Copies queued per next hop and class (by rank, `Precedence::ALL`'s order).
    pub fn queue_class_depths(&self) -> BTreeMap<NodeId, crate::store::ClassDepths> {
        self.core.store().class_depths()
    }

    /// Whether the store has failed and takes no more custody.
    pub fn store_failed(&self) -> bool {
        self.core.store().has_failed()
    }

    /// The disk under the store as the node's watcher last read it.
    pub fn disk(&self) -> super::Disk {
        self.core.disk()
    }

    /// How long the store's fsyncs took.
    pub fn fsync_latency(&self) -> crate::metrics::histogram::HistogramReading {
        self.core.store().fsync_latency()
    }

    /// Copies queued for `hop` in one class, in arrival order, after `after_seq`: for
    /// looking, not for sending (only a link offers them).
    pub async fn queued(
        &self,
        hop: &NodeId,
        class: Precedence,
        after_seq: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Queued>, StoreError> {
        self.core.store().queued(hop, class, after_seq, limit).await
    }

    /// Messages queued for `hop` right now, per precedence (by `Precedence::rank`).
    pub fn hop_class_depths(&self, hop: &NodeId) -> ClassDepths {
        self.core.store().hop_class_depths(hop)
    }

    /// The operator's look at a queue: the first `limit` copies queued for `hop` (of
    /// `precedence`, or of all) in the order they will be sent.
    pub async fn queue_page(
        &self,
        hop: &NodeId,
        precedence: Option<Precedence>,
        limit: usize,
    ) -> Result<Vec<Queued>, StoreError> {
        self.core.queue_page(hop, precedence, limit).await
    }

    /// The copy of message `id` queued for `hop`, if any.
    pub async fn queued_copy(
        &self,
        hop: &NodeId,
        id: &MessageId,
    ) -> Result<Option<Queued>, StoreError> {
        self.core.queued_copy(hop, id).await
    }

    /// The operator's purge (issue 15, item 4), the second exception to "custody changes
    /// only through `submit`": gives up every copy queued for `hop` (of `precedence`, or of
    /// all) as an expiry would, each with a non-delivery report to its origin.
    pub async fn purge_queue(
        &self,
        hop: &NodeId,
        precedence: Option<Precedence>,
    ) -> Result<Purged, StoreError> {
        self.core.purge_queue(hop, precedence).await
    }
}
